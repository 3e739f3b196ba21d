"""The collection's filters as pure functions."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vitals.django.plugins.filter.health_report import health_report


def test_health_report_prints_the_message_of_a_result_without_checks():
    assert health_report({"skipped": True, "msg": "skipped in check mode"}) == ["skipped in check mode"]


def test_health_report_refuses_something_that_is_not_a_result():
    with pytest.raises(AnsibleFilterError):
        health_report("ok")
