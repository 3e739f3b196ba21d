"""Each check type's logic against fake I/O (conftest.FakeDeps)."""

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.checks import (
    parse_django_check,
    parse_env_file,
)
from ansible_collections.vitals.django.plugins.module_utils.health.deps import HttpResponse
from ansible_collections.vitals.django.plugins.module_utils.health.runner import attempt
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config


def run(deps, ctype, options, **item):
    check = validate_config([{"name": "c", ctype: options, **item}]).checks[0]
    return attempt(check, deps)


# http
def test_http_ok_sends_host_header_and_options(deps):
    out = run(
        deps,
        "http",
        {"url": "https://10.0.0.1/", "host": "www.example.com", "headers": {"X-A": "1"}, "ca_path": "/ca.pem"},
    )
    assert out.status == "ok", out.message
    method, url, kwargs = deps.calls[0][1:]
    assert (method, url) == ("GET", "https://10.0.0.1/")
    assert kwargs["headers"] == {"X-A": "1", "Host": "www.example.com"}
    assert kwargs["verify"] == "/ca.pem"
    assert kwargs["allow_redirects"] is False
    assert out.details["status_code"] == 200


def test_http_unexpected_status(deps):
    deps.http_response = HttpResponse(500, {}, "boom", 0.01)
    out = run(deps, "http", {"url": "http://a/", "status": [200, 302]})
    assert out.status == "critical"
    assert out.message == "HTTP 500, expected 200 or 302"


def test_http_body_json_headers_latency(deps):
    body = json.dumps({"status": "ok", "db": {"ok": True, "n": 3}, "items": [{"id": 7}]})
    deps.http_response = HttpResponse(200, {"cache-control": "max-age=60"}, body, 0.5)
    good = {
        "url": "http://a/",
        "body_regex": '"status": "ok"',
        "json": {"status": "ok", "db.ok": True, "db.n": "3", "items.0.id": 7},
        "expect_headers": {"Cache-Control": r"max-age=\d+"},
        "max_latency": 1,
    }
    assert run(deps, "http", good).status == "ok"
    bad = {
        "url": "http://a/",
        "body_regex": "welcome",
        "json": {"status": "down", "missing.path": 1},
        "expect_headers": {"Cache-Control": "immutable", "ETag": "."},
        "max_latency": 0.1,
    }
    out = run(deps, "http", bad)
    assert out.status == "critical"
    for part in (
        "body does not match /welcome/",
        'JSON field status is "ok", expected "down"',
        "JSON field missing.path is missing",
        "header Cache-Control is 'max-age=60', expected /immutable/",
        "header ETag is missing",
        "took 500 ms, limit 100 ms",
    ):
        assert part in out.message


def test_http_body_not_json(deps):
    deps.http_response = HttpResponse(200, {}, "<html>", 0.01)
    assert run(deps, "http", {"url": "http://a/", "json": {"a": 1}}).message == "body is not JSON"


# tcp
def test_tcp_connect_and_banner(deps):
    assert run(deps, "tcp", {"host": "h", "port": 22}).status == "ok"
    assert run(deps, "tcp", {"host": "h", "port": 22, "banner": "^SSH-2"}).status == "ok"
    out = run(deps, "tcp", {"host": "h", "port": 22, "banner": "^220"})
    assert out.status == "critical"
    assert "does not match /^220/" in out.message


# postgres
def test_postgres_expected_value(deps):
    opts = {"host": "db", "user": "mon", "password": "pw", "dbname": "demo", "query": "SELECT 1", "expected": "1"}
    assert run(deps, "postgres", opts).status == "ok"
    conn = deps.calls[0][1]
    assert conn == {"host": "db", "port": 5432, "dbname": "demo", "user": "mon", "password": "pw"}
    deps.pg_value = 0
    out = run(deps, "postgres", opts)
    assert out.status == "critical"
    assert out.message == "query returned '0', expected '1'"


# disk
def test_disk_percent_bytes_inodes(deps):
    # 500 of 1000 blocks of 4 KiB free (50 %), 50 of 100 inodes free.
    assert run(deps, "disk", {"path": "/", "min_free": "40%", "min_free_inodes": 50}).status == "ok"
    assert run(deps, "disk", {"path": "/", "min_free": "1M"}).status == "ok"
    out = run(deps, "disk", {"path": "/", "min_free": "60%", "min_free_inodes": "51%"})
    assert out.status == "critical"
    assert "2048000 bytes free (50.0%), need 60%" in out.message
    assert "50 inodes free (50.0%), need 51%" in out.message
    assert run(deps, "disk", {"path": "/", "min_free": "3M"}).status == "critical"


# systemd
@pytest.mark.parametrize(
    ("props", "options", "status", "message"),
    [
        ({"ActiveState": "active"}, {}, "ok", "u.service is active"),
        ({"ActiveState": "inactive"}, {}, "critical", "u.service is inactive, expected active"),
        (
            {"ActiveState": "failed", "Result": "exit-code"},
            {"active": False},
            "critical",
            "u.service is failed (exit-code)",
        ),
        ({"ActiveState": "inactive"}, {"active": False}, "ok", "u.service is inactive"),
        ({"LoadState": "not-found"}, {}, "critical", "unit u.service not found"),
        ({"UnitFileState": "disabled"}, {"enabled": True}, "critical", "u.service is disabled, expected enabled"),
        (
            {"ActiveEnterTimestamp": "@%d" % 1795460370},
            {"min_uptime": 60},
            "critical",
            "(re)started 30 s ago, less than 60 s",
        ),
        ({"ActiveEnterTimestamp": "@%d" % 1795460000}, {"min_uptime": 60}, "ok", "u.service is active"),
    ],
)
def test_systemd(deps, props, options, status, message):
    deps.systemd = {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled", **props}
    out = run(deps, "systemd", {"unit": "u.service", **options})
    assert out.status == status
    assert message in out.message


# cron (state format of docs/architecture.md; NOW is 2026-11-23T19:00:00Z)
def cron_state(**overrides):
    state = {
        "job": "clearsessions",
        "running": None,
        "last_run": {
            "status": "success",
            "exit_code": 0,
            "started_at": "2026-11-23T18:00:00Z",
            "finished_at": "2026-11-23T18:00:02Z",
        },
        "last_success_at": "2026-11-23T18:00:02Z",
        "last_skipped_at": None,
        "skipped_count": 0,
    }
    state.update(overrides)
    return json.dumps(state)


@pytest.mark.parametrize(
    ("state", "options", "status", "message"),
    [
        (cron_state(), {}, "ok", "last success 3598 s ago"),
        (cron_state(), {"max_age": 600}, "critical", "last success 3598 s ago, limit 600 s"),
        (cron_state(last_run={"status": "failed", "exit_code": 2}), {}, "critical", "last run failed (exit 2)"),
        (
            cron_state(last_run={"status": "timeout", "exit_code": None}),
            {},
            "critical",
            "last run was killed at its timeout",
        ),
        (cron_state(last_run={"status": "failed", "exit_code": 2}), {"require_success": False}, "ok", "last success"),
        (cron_state(last_success_at=None), {}, "critical", "never succeeded"),
        (
            cron_state(running={"pid": 1, "started_at": "2026-11-23T18:30:00Z"}),
            {"max_running": 600},
            "critical",
            "running for 1800 s",
        ),
        (
            cron_state(running={"pid": 1, "started_at": "2026-11-23T18:55:00Z"}),
            {"max_running": 600},
            "ok",
            "last success",
        ),
        ("{not json", {}, "unknown", "cannot parse"),
    ],
)
def test_cron(deps, state, options, status, message):
    deps.files["/var/lib/vitals/cron/clearsessions.json"] = state
    out = run(deps, "cron", {"job": "clearsessions", "max_age": 7200, **options})
    assert out.status == status
    assert message in out.message


def test_cron_never_ran(deps):
    out = run(deps, "cron", {"job": "x", "max_age": 1, "state_dir": "/state"})
    assert out.status == "critical"
    assert out.message == "job x: never ran (no state file /state/x.json)"


# backup (layout of docs/architecture.md)
BK = "/var/backups/vitals/demo"
NEWEST = "db-20261123T180000Z.dump"


@pytest.fixture
def backups(deps):
    deps.dirs[BK] = [
        "db-20261122T180000Z.dump",
        "db-20261122T180000Z.dump.sha256",
        NEWEST,
        NEWEST + ".sha256",
        "media-20261123T190000Z.tar.gz",
        "restore-test.json",
    ]
    deps.sizes[BK + "/" + NEWEST] = 4096
    # Without the job's record the age comes from the file's own time, not from its name.
    deps.mtimes[BK + "/" + NEWEST] = datetime(2026, 11, 23, 18, 0, 0, tzinfo=UTC).timestamp()
    deps.hashes[BK + "/" + NEWEST] = "ab" * 32
    deps.files[BK + "/" + NEWEST + ".sha256"] = "%s  %s\n" % ("ab" * 32, NEWEST)
    deps.files[BK + "/restore-test.json"] = json.dumps(
        {"backup": NEWEST, "status": "passed", "tested_at": "2026-11-23T18:10:00Z", "tables": {}}
    )
    return deps


def test_backup_ok(backups):
    out = run(backups, "backup", {"app": "demo", "max_age": 7200})
    assert out.status == "ok", out.message
    assert out.details["newest"] == NEWEST
    assert out.details["checksum_ok"] is True


def test_backup_problems(backups):
    backups.sizes[BK + "/" + NEWEST] = 0
    backups.hashes[BK + "/" + NEWEST] = "cd" * 32
    backups.files[BK + "/restore-test.json"] = json.dumps(
        {"backup": NEWEST, "status": "failed", "message": "pg_restore: error"}
    )
    out = run(backups, "backup", {"app": "demo", "max_age": 600})
    assert out.status == "critical"
    for part in (
        "is 3600 s old, limit 600 s",
        "has 0 bytes, minimum 1",
        "checksum of %s does not match" % NEWEST,
        "failed: pg_restore: error",
    ):
        assert part in out.message


def test_backup_old_restore_test_and_missing_files(backups):
    out = run(backups, "backup", {"app": "demo", "max_age": 7200, "restore_test_max_age": 60})
    assert out.message == "last restore test is older than 60 s"
    del backups.files[BK + "/" + NEWEST + ".sha256"]
    del backups.files[BK + "/restore-test.json"]
    out = run(backups, "backup", {"app": "demo", "max_age": 7200})
    assert "%s.sha256 is missing" % NEWEST in out.message
    assert "no restore test yet" in out.message


def test_backup_none(deps):
    assert run(deps, "backup", {"dir": "/b", "max_age": 1}).message == "backup directory /b does not exist"
    deps.dirs["/b"] = ["media-20261123T190000Z.tar.gz"]
    assert run(deps, "backup", {"dir": "/b", "max_age": 1}).message == "no db-* backup in /b"


# command
def test_command(deps):
    deps.commands["nginx -t"] = (0, "syntax is ok\n", "")
    assert run(deps, "command", {"argv": ["nginx", "-t"], "stdout_regex": "^syntax is ok$"}).status == "ok"
    deps.commands["nginx -t"] = (1, "", "emerg")
    out = run(deps, "command", {"argv": ["nginx", "-t"], "stdout_regex": "ok"})
    assert out.message == "nginx: exit code 1, expected 0; output does not match /ok/"
    assert out.details["stderr_tail"] == "emerg"


# django
DEPLOY_OUT = """System check identified some issues:

WARNINGS:
?: (security.W004) You have not set a value for the SECURE_HSTS_SECONDS setting.
?: (security.W008) Your SECURE_SSL_REDIRECT setting is not set to True.

System check identified 2 issues (0 silenced).
"""


def test_django_runs_manage_py_with_env_as_user(deps):
    deps.files["/srv/demo/shared/env"] = (
        "# env\nDJANGO_SETTINGS_MODULE=config.settings\nSECRET_KEY='s3cr3t-key-value'\nexport DEBUG=0\n"
    )
    out = run(deps, "django", {"release": "/srv/demo/releases/1", "env_file": "/srv/demo/shared/env", "user": "demo"})
    assert out.status == "ok", out.message
    argv, cwd, env, user = deps.calls[0][1:]
    assert argv == [
        "/srv/demo/releases/1/venv/bin/python",
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "CRITICAL",
    ]
    assert (cwd, user) == ("/srv/demo/releases/1", "demo")
    assert env["SECRET_KEY"] == "s3cr3t-key-value"
    assert env["DEBUG"] == "0"
    assert deps.calls[1][1][2:] == ["migrate", "--check", "--plan"]


def test_django_warnings_are_warnings_errors_critical(deps):
    deps.commands["check --deploy"] = (0, "", DEPLOY_OUT)
    out = run(deps, "django", {"release": "/r", "migrations": False})
    assert out.status == "warning"
    assert out.message == "check --deploy warnings: security.W004, security.W008"
    deps.commands["check --deploy"] = (
        1,
        "",
        DEPLOY_OUT + "ERRORS:\n?: (security.E100) DEFAULT_HASHING_ALGORITHM bad.\n",
    )
    out = run(deps, "django", {"release": "/r", "migrations": False}, severity="critical")
    assert out.status == "critical"
    assert "security.E100 DEFAULT_HASHING_ALGORITHM bad." in out.message


def test_django_pending_migrations_are_critical_and_secrets_hidden(deps):
    deps.files["/env"] = "SECRET_KEY=super-secret-value\n"
    deps.commands["migrate --check"] = (1, "Planned operations:\nshop.0002_price\n    Add field price\n", "")
    deps.commands["check --deploy"] = (1, "", "Traceback...\nKeyError: super-secret-value\n")
    out = run(deps, "django", {"release": "/r", "env_file": "/env"})
    assert out.status == "critical"
    assert "1 pending migrations: shop.0002_price" in out.message
    assert out.details["pending_migrations"] == ["shop.0002_price"]
    assert "super-secret-value" not in out.message
    assert "KeyError: ********" in out.message


def test_parsers():
    assert parse_env_file('A=1\n\n# c\nB="two words"\nexport C=x=y\nnoequals\n') == {
        "A": "1",
        "B": "two words",
        "C": "x=y",
    }
    assert [i[:2] for i in parse_django_check(DEPLOY_OUT)] == [("W", "security.W004"), ("W", "security.W008")]


# tls, smtp
def test_tls_days_left(deps):
    assert run(deps, "tls", {"host": "h", "min_days": 30}).status == "ok"
    out = run(deps, "tls", {"host": "h", "min_days": 60, "warn_days": 90})
    assert out.status == "critical"
    assert out.message.startswith("certificate expires in 38.2 days, minimum 60")


def test_smtp(deps):
    assert run(deps, "smtp", {"host": "mx"}).status == "ok"
    deps.smtp_answer = ("554 go away", "502 no")
    out = run(deps, "smtp", {"host": "mx"})
    assert out.message == "banner '554 go away' does not match /^220/; EHLO answered '502 no'"


def test_statvfs_with_zero_totals_does_not_divide_by_zero(deps):
    deps.statvfs_result = SimpleNamespace(f_frsize=4096, f_blocks=0, f_bfree=0, f_bavail=0, f_files=0, f_favail=0)
    assert run(deps, "disk", {"path": "/proc", "min_free": "1%", "min_free_inodes": "1%"}).status == "ok"


def test_django_migrate_error_is_not_reported_as_pending(deps):
    deps.commands["migrate --check"] = (1, "", "django.db.utils.OperationalError: connection refused\n")
    out = run(deps, "django", {"release": "/r", "deploy": False})
    assert out.status == "critical"
    assert out.message == "migrate --check failed: django.db.utils.OperationalError: connection refused"
    assert out.details["pending_migrations"] == []
