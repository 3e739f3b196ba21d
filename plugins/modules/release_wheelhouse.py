#!/usr/bin/python
# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: release_wheelhouse
short_description: Resolve and download a project's dependencies for each host's Python and platform
version_added: 0.1.0
description:
  - For each wheel target (Python X.Y, architecture, manylinux level from the host's glibc) resolves the
    requirements as that host's interpreter would, with C(uv pip compile --python-version --python-platform),
    so environment markers are evaluated for the host, not for the controller.
  - Downloads exactly the resolved files with C(pip download --no-deps --require-hashes) for the target.
  - A source-only dependency is built once on the controller with C(uv build); a pure-Python one (a
    C(none-any) wheel) serves every target, any other fails the task naming the package and the target.
  - Adds O(server) requirements the project does not choose itself (gunicorn, a PostgreSQL driver).
  - Each wheelhouse holds the wheels and C(requirements.lock) (C(name==version) lines the host installs).
    It is cached under O(cache_dir) by the requirements, the target and the uv version, so an unchanged
    project resolves nothing and downloads nothing.
  - uv never downloads an interpreter (C(UV_PYTHON_DOWNLOADS=never)).
author:
  - vitals.django developers (@vitals-django)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: none
    details: The role runs it with C(check_mode=false); it only fills the controller's cache.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  requirements:
    description: The project's requirements file.
    type: path
    required: true
  targets:
    description: Wheel targets C(<python X.Y>-<arch>-manylinux_2_<N>), duplicates allowed.
    type: list
    elements: str
    required: true
  server:
    description:
      - Requirement lines added unless the project lists the same package; any PostgreSQL driver of the
        project (psycopg, psycopg2, pg8000, ...) replaces a psycopg line.
    type: list
    elements: str
    default: []
  cache_dir:
    description: Directory of the wheelhouses and of the wheels built from source distributions.
    type: path
    required: true
  uv:
    description: Path of the uv executable.
    type: path
    required: true
  python:
    description: Controller Python with pip, used for the downloads and to build source distributions.
    type: path
    required: true
requirements:
  - uv and pip on the controller
"""

EXAMPLES = r"""
- name: Build the wheelhouses of the play's hosts
  vitals.django.release_wheelhouse:
    requirements: /src/demo/requirements.txt
    targets: [3.13-x86_64-manylinux_2_40, 3.11-x86_64-manylinux_2_36]
    server: [gunicorn==27.0.1, "psycopg[binary]==3.3.9"]
    cache_dir: /src/.cache/vitals.django/demo
    uv: "{{ ansible_playbook_python | dirname }}/uv"
    python: "{{ ansible_playbook_python }}"
  delegate_to: localhost
  run_once: true
  register: wheelhouse
"""

RETURN = r"""
wheelhouses:
  description: Per target, the wheelhouse directory and the pins the host installs.
  returned: success
  type: dict
  sample:
    3.13-x86_64-manylinux_2_40:
      path: /src/.cache/vitals.django/demo/wheelhouse/3.13-x86_64-manylinux_2_40-0f3c9a1b2c3d4e5f
      pins: [django==5.2.19, gunicorn==27.0.1]
added:
  description: The O(server) lines added to the project's requirements.
  returned: success
  type: list
  elements: str
  sample: [gunicorn==27.0.1, "psycopg[binary]==3.3.9"]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.vitals.django.plugins.module_utils.release.wheelhouse import (  # noqa: E402
    WheelhouseError,
    build_wheelhouses,
)

ARGUMENT_SPEC = {
    "requirements": {"type": "path", "required": True},
    "targets": {"type": "list", "elements": "str", "required": True},
    "server": {"type": "list", "elements": "str", "default": []},
    "cache_dir": {"type": "path", "required": True},
    "uv": {"type": "path", "required": True},
    "python": {"type": "path", "required": True},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=False)
    params = module.params

    def run(argv, env):
        return module.run_command(argv, environ_update=env)

    rc, out, err = run([params["uv"], "--version"], {})
    if rc != 0:
        module.fail_json(msg="uv does not run at %s (option uv): %s" % (params["uv"], (err or out).strip()))
    try:
        changed, houses, added = build_wheelhouses(
            params["targets"],
            params["requirements"],
            params["server"],
            cache_dir=params["cache_dir"],
            uv=params["uv"],
            python=params["python"],
            uv_version=out.strip(),
            run=run,
        )
    except (WheelhouseError, OSError) as exc:
        module.fail_json(msg="Cannot build the wheelhouse of %s: %s" % (params["requirements"], exc))
    module.exit_json(changed=changed, wheelhouses=houses, added=added)


if __name__ == "__main__":
    main()
