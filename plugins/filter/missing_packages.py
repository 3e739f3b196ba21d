# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The packages of a list that the host's package facts do not show as installed."""

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: missing_packages
short_description: The packages of a list that a host does not have installed
version_added: 0.1.0
author: vitals.django contributors
description:
  - Compares package names with the C(packages) fact of M(ansible.builtin.package_facts) and returns
    the names the host does not have.
  - Without that fact (nothing gathered it in this run) every name is returned, so a task guarded by
    it still asks the package manager. Stale facts can only return too many names, never too few.
  - The roles of this collection guard their M(ansible.builtin.apt) tasks with it, so a re-run on a
    host with everything installed asks apt nothing (each apt task costs about a second).
options:
  _input:
    description: Debian package names, without version or architecture.
    type: list
    elements: str
    required: true
  facts:
    description: The host's C(ansible_facts).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Install nginx
  ansible.builtin.apt:
    name: nginx
    state: present
  when: "['nginx'] | vitals.django.missing_packages(ansible_facts) | length > 0"
"""

RETURN = r"""
_value:
  description: The names of O(_input) that are not installed, in their order.
  type: list
  elements: str
"""


def missing_packages(names, facts):
    if isinstance(names, str):
        names = [names]
    if not isinstance(facts, dict):
        raise AnsibleFilterError("missing_packages expects the host's ansible_facts, got %s" % type(facts).__name__)
    installed = facts.get("packages")
    if not isinstance(installed, dict):
        return list(names)
    return [name for name in names if name not in installed]


class FilterModule:
    def filters(self):
        return {"missing_packages": missing_packages}
