# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The result of vitals.django.health as lines for people, the same as `vitals-health` prints."""

from ansible.errors import AnsibleFilterError
from ansible_collections.vitals.django.plugins.module_utils.health.output import format_human

DOCUMENTATION = r"""
name: health_report
short_description: Format a vitals.django.health result as lines of text
version_added: 0.1.0
author: vitals.django contributors
description:
  - Turns the registered result of M(vitals.django.health) into one line per check (status, name,
    type, duration, message) and a summary line, as the C(vitals-health) command prints them.
  - Shows a failed result too, so a play can print the report before it fails.
options:
  _input:
    description: The registered result of a M(vitals.django.health) task.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show the health report
  ansible.builtin.debug:
    msg: "{{ health_result | vitals.django.health_report }}"
"""

RETURN = r"""
_value:
  description: One line per check, then the summary.
  type: list
  elements: str
"""


def health_report(result):
    if not isinstance(result, dict):
        raise AnsibleFilterError("health_report expects the registered result of vitals.django.health")
    if "checks" not in result:
        # Skipped, or failed before any check ran (bad input): its message says why.
        return [str(result.get("msg", "no health checks ran"))]
    return format_human({"checks": result["checks"], "msg": result.get("msg", "")}).splitlines()


class FilterModule:
    def filters(self):
        return {"health_report": health_report}
