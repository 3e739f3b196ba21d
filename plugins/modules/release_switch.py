#!/usr/bin/python
# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: release_switch
short_description: Make a release live by switching the current symlink atomically
version_added: 0.1.0
description:
  - Points C(<root>/current) at C(releases/<id>) with a new symlink renamed over the old one, so
    every reader sees either the old or the new release, never none.
  - Records the statuses in every C(release.json) - the new release C(live), the one that was live
    C(previous), an older C(previous) C(prepared) - so the previous release is known from state.
  - Refuses a release that is C(failed) or never finished (no C(release.json)).
  - Does nothing when the release is already live and recorded so.
  - The collection's deploys never call it directly - the rollout (role vitals.django.rollout) starts the release
    beside the live one, gates it, and its host-side switch command moves C(current) with the same code. Use this
    module only in a playbook of your own that gates the release first.
author:
  - vitals.django developers (@vitals-django)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - vitals.django.release
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
    description: Id of the release to make live.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Switch to the new release
  vitals.django.release_switch:
    root: /srv/demo
    id: 20261123T190000Z
  notify: Restart gunicorn for the new release
"""

RETURN = r"""
current:
  description: Id C(current) points to now.
  returned: always
  type: str
  sample: 20261123T190000Z
before:
  description: Id C(current) pointed to before, or null.
  returned: always
  type: str
  sample: 20261122T100000Z
statuses:
  description: Status changes written (id -> status).
  returned: always
  type: dict
  sample: {20261123T190000Z: live, 20261122T100000Z: previous}
"""


from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.vitals.django.plugins.module_utils.release.state import (  # noqa: E402
    INCOMPLETE,
    current_id,
    make_live,
    scan,
    switch_statuses,
)

ARGUMENT_SPEC = {
    "root": {"type": "path", "required": True},
    "id": {"type": "str", "required": True},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    root, target = module.params["root"], module.params["id"]
    releases = scan(root)
    by_id = {r["id"]: r for r in releases}
    if target not in by_id:
        module.fail_json(msg="Release %s does not exist under %s/releases" % (target, root))
    if by_id[target]["status"] in ("failed", INCOMPLETE):
        module.fail_json(msg="Release %s is %s; refusing to make it live" % (target, by_id[target]["status"]))
    before = current_id(root)
    statuses = switch_statuses(releases, target, before)
    changed = before != target or bool(statuses)
    if changed and not module.check_mode:
        make_live(root, target, before, statuses)
    module.exit_json(
        changed=changed,
        current=target,
        before=before,
        statuses=statuses,
        diff={"before": "current -> %s\n" % before, "after": "current -> %s\n" % target},
    )


if __name__ == "__main__":
    main()
