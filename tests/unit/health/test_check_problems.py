"""Item 7 of issue 12: check lists validated on the controller, each problem with its variable and path."""

import pytest
from ansible_collections.vitals.django.plugins.filter.health_check_problems import health_check_problems

GOOD = {"name": "home", "http": {"url": "http://127.0.0.1/"}}


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ([GOOD], []),
        ([], []),
        ("home", ["v: must be a list of checks, got str"]),
        ([GOOD, GOOD], ["v[1].name: check 'home': duplicate name"]),
        (
            [GOOD, GOOD | {"name": "b"}, {"name": "x", "http": {"url": "ftp://x"}}],
            ["v[2].http.url: check 'x': option 'url' must be an http:// or https:// URL with a host"],
        ),
        (["home"], ["v[0]: checks[0]: must be a dictionary with 'name' and one check type"]),
        (
            [{"http": {}}],
            ["v[0].name: checks[0]: option 'name' is required (letters, digits, '_.@:-', up to 100 characters)"],
        ),
        ([{"name": "t", "tcp": {"host": "h"}}], ["v[0].tcp.port: check 't': option 'port' is required for type tcp"]),
        (
            [{"name": "t", "tcp": {"host": "h", "port": 1, "nope": 1}}],
            ["v[0].tcp.nope: check 't': unknown option 'nope'"],
        ),
        (
            [{"name": "t", "timeout": -1, "tcp": {"host": "h", "port": 1}}],
            ["v[0].timeout: check 't': option 'timeout'"],
        ),
        ([{"name": "d", "disk": {"path": "/"}}], ["v[0].disk: check 'd': needs 'min_free' or 'min_free_inodes'"]),
    ],
)
def test_problems_name_the_variable_and_the_path(checks, expected):
    problems = health_check_problems(checks, "v")
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_no_value_reaches_a_problem():
    checks = [{"name": "db", "postgres": {"password": "Secret-1234", "port": "Secret-5678", "sslmode": "x"}}]
    text = "; ".join(health_check_problems(checks, "v"))
    assert "v[0].postgres.port" in text
    assert "Secret" not in text
