#!/usr/bin/python
# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: release_info
short_description: Read the release state of a Django app host
version_added: 0.1.0
description:
  - Lists the releases under O(root)C(/releases/) with their C(release.json) records and which one
    C(current) points to, and works out what the P(vitals.django.release#role) role needs to decide
    the next step.
  - The previous release comes from state (the release recorded as C(previous), else the newest finished
    release older than C(current)), never from file times.
  - Read-only; never changes anything.
author:
  - vitals.django developers (@vitals-django)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - vitals.django.release
attributes:
  check_mode:
    support: full
    details: Read-only.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  artifact_sha256:
    description: sha256 of the artifact about to be deployed; RV(reuse) names a finished release that holds it.
    type: str
  keep:
    description:
      - How many releases to keep; RV(prune) lists the others.
      - C(current) and the previous release are always kept.
    type: int
    default: 5
  rollback_to:
    description: Release id a rollback should switch to; default the previous release.
    type: str
"""

EXAMPLES = r"""
- name: Read the release state
  vitals.django.release_info:
    root: /srv/demo
    artifact_sha256: "{{ artifact.sha256 }}"
  register: state
"""

RETURN = r"""
releases:
  description: Every release, oldest first.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 20261123T190000Z, path: /srv/demo/releases/20261123T190000Z, status: live, version: "1.0",
       artifact_sha256: "9f86...", created_at: "2026-11-23T19:00:00Z", migrations: [catalog.0001_initial]}
current:
  description: Id of the release C(current) points to, or null.
  returned: always
  type: str
  sample: 20261123T190000Z
previous:
  description: Id of the release a rollback goes back to, or null.
  returned: always
  type: str
reuse:
  description:
    - Id of a finished release (live, previous or prepared) built from O(artifact_sha256), C(current) first.
    - Null when there is none.
  returned: always
  type: str
prune:
  description: Ids to delete to keep O(keep) releases.
  returned: always
  type: list
  elements: str
rollback_to:
  description: Id a rollback would switch to, or null when there is none (see RV(rollback_error)).
  returned: always
  type: str
rollback_error:
  description: Why there is no rollback target, or null.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.vitals.django.plugins.module_utils.release.state import ReleaseError, describe  # noqa: E402

ARGUMENT_SPEC = {
    "root": {"type": "path", "required": True},
    "artifact_sha256": {"type": "str"},
    "keep": {"type": "int", "default": 5},
    "rollback_to": {"type": "str"},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    try:
        state = describe(p["root"], p["artifact_sha256"], p["keep"], p["rollback_to"])
    except ReleaseError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()
