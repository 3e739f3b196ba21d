"""Validation: every problem of the whole list, naming the check and the option, before anything runs."""

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.schema import (
    ValidationError,
    validate_config,
)


def errors_of(checks, **kwargs):
    with pytest.raises(ValidationError) as info:
        validate_config(checks, **kwargs)
    return info.value.errors


def test_valid_config_fills_defaults():
    config = validate_config(
        [
            {"name": "web", "http": {"url": "http://127.0.0.1/", "status": 204}},
            {"name": "disk", "severity": "warning", "timeout": 3, "disk": {"path": "/", "min_free": "10%"}},
            {"name": "bk", "backup": {"app": "demo", "max_age": 3600, "min_size": "1K"}},
            {"name": "dj", "django": {"release": "/srv/demo/current/"}},
        ],
        within=30,
        delay=1,
    )
    web, disk, backup, django = config.checks
    assert web.options["status"] == [204]
    assert web.options["method"] == "GET"
    assert web.severity == "critical"
    assert web.timeout == 10.0
    assert disk.options["min_free"] == ("percent", 10.0)
    assert disk.severity == "warning"
    assert disk.timeout == 3.0
    assert backup.options["dir"] == "/var/backups/vitals/demo"
    assert backup.options["min_size"] == 1024
    assert django.options["python"] == "/srv/demo/current/venv/bin/python"
    assert (config.within, config.delay, config.concurrency) == (30.0, 1.0, 8)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"name": "x", "ping": {}}, "check 'x': unknown option or check type ping"),
        (
            {"name": "x", "tcp": {"host": "a", "port": 1}, "http": {"url": "http://a/"}},
            "needs exactly one check type, got tcp, http",
        ),
        ({"name": "x"}, "check 'x': needs exactly one check type, got none"),
        ({"name": "x", "tcp": {"host": "a"}}, "check 'x': option 'port' is required for type tcp"),
        (
            {"name": "x", "tcp": {"host": "a", "port": 70000}},
            "check 'x': option 'port' must be a port between 1 and 65535",
        ),
        ({"name": "x", "tcp": {"host": "a", "port": 0}}, "option 'port' must be a port"),
        ({"name": "x", "http": {"url": "ftp://a/"}}, "check 'x': option 'url' must be an http:// or https:// URL"),
        ({"name": "x", "http": {"url": "http:///nohost"}}, "option 'url' must be an http:// or https:// URL"),
        ({"name": "x", "http": {"url": "http://a:99999/"}}, "check 'x': option 'url' has an invalid port"),
        (
            {"name": "x", "http": {"url": "http://a/", "body_regex": "("}},
            "option 'body_regex' is not a valid regular expression",
        ),
        ({"name": "x", "http": {"url": "http://a/", "verb": "GET"}}, "check 'x': unknown option 'verb' for type http"),
        ({"name": "x", "http": {"url": "http://a/", "status": 999}}, "option 'status' must be HTTP status codes"),
        (
            {"name": "x", "severity": "fatal", "tcp": {"host": "a", "port": 1}},
            "option 'severity' must be one of critical, warning",
        ),
        ({"name": "x", "timeout": 0, "tcp": {"host": "a", "port": 1}}, "option 'timeout' must be greater than 0"),
        ({"name": "x", "disk": {"path": "/"}}, "check 'x': needs 'min_free' or 'min_free_inodes'"),
        ({"name": "x", "disk": {"path": "/", "min_free": "120%"}}, "option 'min_free' must be a percentage up to 100"),
        ({"name": "x", "disk": {"path": "srv", "min_free": "1G"}}, "option 'path' must be an absolute path"),
        ({"name": "x", "backup": {"max_age": 1}}, "check 'x': needs 'dir' or 'app'"),
        ({"name": "x", "command": {"argv": "ls -l"}}, "option 'argv' must be a non-empty list of strings"),
        ({"name": "x", "http": "http://a/"}, "check 'x': 'http' must be a dictionary of options"),
        ({"http": {"url": "http://a/"}}, "checks[0]: option 'name' is required"),
        ("just a string", "checks[0]: must be a dictionary"),
    ],
)
def test_bad_item_names_check_and_option(item, expected):
    errors = errors_of([item])
    assert any(expected in e for e in errors), errors


def test_every_error_of_the_list_is_reported_at_once():
    errors = errors_of(
        [
            {"name": "a", "tcp": {"host": "h", "port": "x"}},
            {"name": "b", "http": {"url": "nope"}},
            {"name": "a", "tcp": {"host": "h", "port": 1}},
        ],
        concurrency=0,
    )
    assert "check 'a': option 'port' must be an integer" in errors
    assert any(e.startswith("check 'b': option 'url'") for e in errors)
    assert "check 'a': duplicate name" in errors
    assert "health: option 'concurrency' must be at least 1" in errors


def test_empty_list_is_rejected():
    assert errors_of([]) == ["option 'checks' must be a non-empty list"]


def test_secrets_are_collected():
    config = validate_config(
        [
            {"name": "db", "postgres": {"password": "pg-secret"}},
            {
                "name": "api",
                "http": {"url": "https://u:url-secret@a/", "headers": {"Authorization": "Bearer tok", "X-Trace": "1"}},
            },
        ]
    )
    assert config.secrets == {"pg-secret", "url-secret", "Bearer tok"}


def test_string_booleans_and_numbers_from_inventory_are_accepted():
    config = validate_config(
        [{"name": "u", "systemd": {"unit": "a.service", "active": "yes", "enabled": "false"}}], within="5"
    )
    assert config.checks[0].options["active"] is True
    assert config.checks[0].options["enabled"] is False
    assert config.within == 5.0


def test_validation_errors_do_not_echo_a_url_password():
    errors = errors_of([{"name": "x", "http": {"url": "ftp://user:Url-Secret-1@host/"}}])
    assert errors == ["check 'x': option 'url' must be an http:// or https:// URL with a host"]
