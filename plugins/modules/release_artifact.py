#!/usr/bin/python
# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: release_artifact
short_description: Build a deterministic release artifact (tar.gz) from a project tree and a wheelhouse
version_added: 0.1.0
description:
  - Packs one or more directory trees into a gzip-compressed tar whose bytes depend only on the
    content and the executable bits of the files, so the same inputs always give the same sha256.
  - Entries are sorted, owned by root with empty owner names, carry a fixed mtime (1980-01-01),
    modes 0644/0755, and the gzip header has no file name and mtime 0. Symlinks are stored as links.
  - O(dest) is replaced only when the new bytes differ, so a rebuild of unchanged inputs reports
    no change; that is what lets the P(vitals.django.release#role) role skip a redundant release.
  - Runs where the task runs; the role delegates it to the controller.
author:
  - vitals.django developers (@vitals-django)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode the artifact is built in memory to report its sha256; O(dest) is not written.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  dest:
    description: Path of the artifact to write.
    type: path
    required: true
  trees:
    description: Directory trees to pack, in any order (entries are sorted).
    type: list
    elements: dict
    required: true
    suboptions:
      src:
        description: Directory whose content is packed.
        type: path
        required: true
      prefix:
        description: Path inside the artifact under which the content of O(trees[].src) goes; empty for the top.
        type: str
        default: ""
  exclude:
    description: fnmatch patterns matched against every path component; matching files and directories are left out.
    type: list
    elements: str
    default: [.git, __pycache__, "*.pyc"]
"""

EXAMPLES = r"""
- name: Build the artifact of a project with its wheelhouse
  vitals.django.release_artifact:
    dest: /var/cache/build/demo-py3.13.tar.gz
    trees:
      - src: /src/demo
      - src: /var/cache/build/wheelhouse-3.13
        prefix: wheelhouse/
  delegate_to: localhost
  run_once: true
  register: artifact
"""

RETURN = r"""
sha256:
  description: Hex sha256 of the artifact.
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
dest:
  description: Path of the artifact.
  returned: always
  type: str
  sample: /var/cache/build/demo-py3.13.tar.gz
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.vitals.django.plugins.module_utils.release.artifact import build_artifact  # noqa: E402

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "trees": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {"src": {"type": "path", "required": True}, "prefix": {"type": "str", "default": ""}},
    },
    "exclude": {"type": "list", "elements": "str", "default": [".git", "__pycache__", "*.pyc"]},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    trees = []
    for tree in module.params["trees"]:
        if not os.path.isdir(tree["src"]):
            module.fail_json(msg="%s is not a directory" % tree["src"])
        prefix = tree["prefix"].strip("/")
        trees.append((prefix + "/" if prefix else "", tree["src"]))
    try:
        changed, sha = build_artifact(module.params["dest"], trees, module.params["exclude"], module.check_mode)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="Cannot build %s: %s" % (module.params["dest"], exc))
    module.exit_json(changed=changed, sha256=sha, dest=module.params["dest"])


if __name__ == "__main__":
    main()
