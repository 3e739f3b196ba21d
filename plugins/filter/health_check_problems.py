# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate a health check list against the module's schema on the controller, before any host task."""

from ansible_collections.vitals.django.plugins.module_utils.health.schema import check_problems

DOCUMENTATION = r"""
name: health_check_problems
short_description: The problems of a vitals.django.health check list, each with its variable and path
version_added: 0.1.0
author: vitals.django contributors
description:
  - Validates a check list against the schema of M(vitals.django.health) (the same code the module runs)
    and returns one line per problem, starting with the variable's name and the path inside it
    (C(verify_extra_checks[2].http.url)); an empty list when the list is valid.
  - Lines never contain an option's value, so a password cannot leak through them.
  - A string, or anything else that is not a list, is one problem.
options:
  _input:
    description: The check list.
    type: raw
    required: true
  variable:
    description: The name of the variable the list came from, to start each line with.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check the extra health checks
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join('; ') }}"
  vars:
    __problems: "{{ verify_extra_checks | vitals.django.health_check_problems('verify_extra_checks') }}"
"""

RETURN = r"""
_value:
  description: One line per problem, C(<variable><path>) then a colon and the reason.
  type: list
  elements: str
"""


def health_check_problems(checks, variable):
    return ["%s%s: %s" % (variable, problem.path, problem) for problem in check_problems(checks)]


class FilterModule:
    def filters(self):
        return {"health_check_problems": health_check_problems}
