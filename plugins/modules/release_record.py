#!/usr/bin/python
# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: release_record
short_description: Write or update the release.json record of one release
version_added: 0.1.0
description:
  - Merges the given fields into C(<root>/releases/<id>/release.json) and writes it atomically
    (temporary file and rename) when its content changes.
  - Releases go live through the role vitals.django.rollout, which keeps the statuses of all releases consistent.
author:
  - vitals.django developers (@vitals-django)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - vitals.django.release
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    support: full
    platforms: posix
options:
  id:
    description: Release id (C(%Y%m%dT%H%M%SZ), UTC).
    type: str
    required: true
  status:
    description:
      - Status to record; default the recorded one (a new record needs one).
      - The switch (vitals.django.rollout, or M(vitals.django.release_switch)) records C(live) and C(previous).
    type: str
    choices: [prepared, failed]
  version:
    description: Version label of the deployed code.
    type: str
  artifact_sha256:
    description: sha256 of the artifact the release was unpacked from.
    type: str
  created_at:
    description: Creation time, ISO 8601 UTC.
    type: str
  migrations:
    description: Migrations applied by this release's deploy (C(app.name)).
    type: list
    elements: str
  reason:
    description: Why the release failed (kept in the record for inspection).
    type: str
"""

EXAMPLES = r"""
- name: Mark a release failed
  vitals.django.release_record:
    root: /srv/demo
    id: 20261123T190000Z
    status: failed
    reason: migrate failed
"""

RETURN = r"""
record:
  description: The record as written.
  returned: always
  type: dict
  sample: {id: 20261123T190000Z, version: "1.0", artifact_sha256: "9f86...", created_at: "2026-11-23T19:00:00Z",
           status: prepared, migrations: []}
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.vitals.django.plugins.module_utils.release.state import (  # noqa: E402
    RELEASE_ID_RE,
    ReleaseError,
    dumps,
    merge_record,
    read_json,
    write_atomic,
)

ARGUMENT_SPEC = {
    "root": {"type": "path", "required": True},
    "id": {"type": "str", "required": True},
    "status": {"type": "str", "choices": ["prepared", "failed"]},
    "version": {"type": "str"},
    "artifact_sha256": {"type": "str"},
    "created_at": {"type": "str"},
    "migrations": {"type": "list", "elements": "str"},
    "reason": {"type": "str"},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, add_file_common_args=True)
    p = module.params
    if not RELEASE_ID_RE.match(p["id"]):
        module.fail_json(msg="Invalid release id %r" % p["id"])
    release_dir = os.path.join(p["root"], "releases", p["id"])
    if not os.path.isdir(release_dir):
        module.fail_json(msg="Release directory %s does not exist" % release_dir)
    path = os.path.join(release_dir, "release.json")
    existing = read_json(path) or {}
    fields = {k: p[k] for k in ("id", "status", "version", "artifact_sha256", "created_at", "migrations", "reason")}
    try:
        record = merge_record(existing, fields)
    except ReleaseError as exc:
        module.fail_json(msg=str(exc))
    before, after = (dumps(existing) if existing else ""), dumps(record)
    changed = before != after
    if changed and not module.check_mode:
        write_atomic(path, after)
    file_args = module.load_file_common_arguments(p, path=path)
    if os.path.exists(path):
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, record=record, diff={"before": before, "after": after, "before_header": path})


if __name__ == "__main__":
    main()
