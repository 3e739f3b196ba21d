"""The collection's filters as pure functions."""


import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vitals.django.plugins.filter.health_report import health_report
from ansible_collections.vitals.django.plugins.filter.missing_packages import missing_packages

INSTALLED = {"packages": {"nginx": [{"version": "1.26"}], "cron": [{"version": "3.0"}]}}


def test_missing_packages_returns_only_the_absent_names_in_order():
    assert missing_packages(["postgresql", "nginx", "acl", "cron"], INSTALLED) == ["postgresql", "acl"]


def test_missing_packages_is_empty_when_everything_is_installed():
    assert missing_packages(["nginx", "cron"], INSTALLED) == []


def test_missing_packages_without_package_facts_returns_every_name():
    # No package_facts in this run: the apt task must still run.
    assert missing_packages(["nginx", "cron"], {"distribution": "Debian"}) == ["nginx", "cron"]


def test_missing_packages_takes_a_single_name():
    assert missing_packages("postgresql", INSTALLED) == ["postgresql"]


def test_missing_packages_refuses_something_that_is_not_facts():
    with pytest.raises(AnsibleFilterError, match="ansible_facts"):
        missing_packages(["nginx"], ["nginx"])


def test_health_report_prints_the_message_of_a_result_without_checks():
    assert health_report({"skipped": True, "msg": "skipped in check mode"}) == ["skipped in check mode"]


def test_health_report_refuses_something_that_is_not_a_result():
    with pytest.raises(AnsibleFilterError):
        health_report("ok")
