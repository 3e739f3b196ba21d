"""Item 3 of issue 12: every tracked job and every backup kind, windows derived from schedules."""

import json
from datetime import timedelta

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.checks import CHECKS
from ansible_collections.vitals.django.plugins.module_utils.health.schedule import max_interval
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config

JOBS = "/etc/vitals/cron/jobs"
STATE = "/var/lib/vitals/cron"
BK = "/var/backups/vitals/demo"
NEWEST = "db-20261123T180000Z.dump"
HOUR = 3600


def run(deps, ctype, options):
    check = validate_config([{"name": "c", ctype: options}]).checks[0]
    return CHECKS[ctype](check.options, check.timeout, deps)


def ago(deps, seconds):
    return (deps.now() - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def job(deps, name, *, schedule="@daily", timeout=HOUR, state=None, defined_ago=30 * 86400):
    deps.files["%s/%s.json" % (JOBS, name)] = json.dumps({"name": name, "schedule": schedule, "timeout": timeout})
    deps.mtimes["%s/%s.json" % (JOBS, name)] = deps.now().timestamp() - defined_ago
    deps.dirs.setdefault(JOBS, []).append(name + ".json")
    if state is not None:
        deps.files["%s/%s.json" % (STATE, name)] = json.dumps(state)


def ran(deps, status="success", success_ago=HOUR):
    return {
        "running": None,
        "last_run": {"status": status, "exit_code": 0 if status == "success" else None},
        "last_success_at": ago(deps, success_ago),
    }


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [("@daily", 24), ("30 2 * * *", 24), ("*/5 * * * *", 1 / 12), ("0 3 * * 1-5", 72), ("0 0 1 * *", 31 * 24)],
)
def test_longest_gap_of_a_schedule(schedule, hours):
    assert max_interval(schedule) == pytest.approx(hours * HOUR)


@pytest.mark.parametrize("schedule", ["@often", "61 * * * *", "* * *"])
def test_a_bad_schedule_is_refused(schedule):
    with pytest.raises(ValueError, match="schedule"):
        max_interval(schedule)


def test_every_tracked_job_is_checked_with_a_window_from_its_schedule(deps):
    job(deps, "clearsessions", state=ran(deps, success_ago=20 * HOUR))
    job(deps, "backup-db", schedule="30 2 * * *", state=ran(deps, success_ago=3 * HOUR))
    out = run(deps, "cron", {"job": "*"})
    assert out.status == "ok", out.message
    assert out.message == "job backup-db: last success 10800 s ago; job clearsessions: last success 72000 s ago"
    # A daily job's window: 24 h + its timeout + 10 min of slack.
    assert out.details["jobs"]["clearsessions"]["window_s"] == 24 * HOUR + HOUR + 600
    assert out.details["jobs"]["backup-db"]["last_success_age_s"] == 3 * HOUR


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("failed", "job broken: last run failed (exit None)"),
        ("timeout", "job broken: last run was killed at its timeout"),
        ("stale", "job broken: last success 180000 s ago, limit 90600 s"),
    ],
)
def test_a_failed_timed_out_or_late_job_is_critical_and_named(deps, state, message):
    job(deps, "clearsessions", state=ran(deps))
    if state == "stale":
        job(deps, "broken", state=ran(deps, success_ago=50 * HOUR))
    else:
        job(deps, "broken", state=ran(deps, status=state))
    out = run(deps, "cron", {"job": "*"})
    assert (out.status, out.message) == ("critical", message)


def test_a_job_not_yet_due_is_ok_then_critical(deps):
    job(deps, "fresh", defined_ago=HOUR)
    out = run(deps, "cron", {"job": "*"})
    assert out.status == "ok"
    assert "fresh: not due yet (scheduled 3600 s ago)" in out.message
    deps.mtimes["%s/fresh.json" % JOBS] -= 2 * 86400
    assert run(deps, "cron", {"job": "*"}).status == "critical"


def test_a_host_without_jobs_is_ok(deps):
    assert run(deps, "cron", {"job": "*"}).message == "no tracked jobs on this host"


def record(deps, **overrides):
    doc = {
        "kind": "db",
        "backup": NEWEST,
        "finished_at": ago(deps, 2 * HOUR),
        "size_bytes": 4096,
        "sha256": "ab" * 32,
        "restore_test": {"status": "passed", "tested_at": ago(deps, HOUR)},
    }
    doc.update(overrides)
    deps.files[BK + "/state/db.json"] = json.dumps(doc)
    deps.dirs[BK] = [NEWEST, "state"]
    deps.hashes[BK + "/" + NEWEST] = "ab" * 32


def test_the_backup_age_comes_from_the_jobs_record_not_the_file_name(deps):
    record(deps, finished_at=ago(deps, 3 * 86400))
    out = run(deps, "backup", {"app": "demo", "max_age": 93600})
    assert out.status == "critical"
    assert out.message == "newest backup %s is 259200 s old, limit 93600 s" % NEWEST
    assert out.details["age_from"] == "record"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sha256": "cd" * 32}, "checksum of %s does not match" % NEWEST),
        ({"restore_test": {"status": "failed", "message": "pg_restore: error"}}, "failed: pg_restore: error"),
        ({"restore_test": "failed"}, "failed"),
    ],
)
def test_checksum_and_restore_test_come_from_the_record(deps, overrides, message):
    record(deps, **overrides)
    out = run(deps, "backup", {"app": "demo", "max_age": 93600})
    assert out.status == "critical"
    assert message in out.message


def test_without_a_record_the_newest_files_own_time_serves(deps):
    deps.dirs[BK] = [NEWEST, NEWEST + ".sha256", "restore-test.json"]
    # Named 1 h ago, written 3 days ago: the name does not count.
    deps.mtimes[BK + "/" + NEWEST] = (deps.now() - timedelta(days=3)).timestamp()
    deps.sizes[BK + "/" + NEWEST] = 10
    out = run(deps, "backup", {"app": "demo", "max_age": 93600, "verify_checksum": False, "restore_test": False})
    assert (out.status, out.details["age_from"], out.details["age_s"]) == ("critical", "file time", 259200)


def test_no_backup_is_a_warning_until_the_first_is_due_then_critical(deps):
    job(deps, "backup-db", schedule="30 2 * * *", defined_ago=HOUR)
    deps.dirs[BK] = []
    options = {"app": "demo", "max_age": 93600, "job": "backup-db"}
    out = run(deps, "backup", options)
    assert out.status == "warning"
    assert out.message.startswith("no db-* backup in %s yet; the first is due by 2026-11-24T" % BK)
    deps.mtimes["%s/backup-db.json" % JOBS] -= 2 * 86400
    out = run(deps, "backup", options)
    assert out.status == "critical"
    assert "the first was due by" in out.message


def test_no_backup_without_a_job_is_critical(deps):
    deps.dirs[BK] = []
    assert run(deps, "backup", {"app": "demo", "max_age": 93600}).status == "critical"


def test_unreadable_state_is_unknown_not_ok(deps):
    class Denied(dict):
        def __contains__(self, key):
            return True

        def __getitem__(self, key):
            raise PermissionError(key)

    deps.files = Denied()
    out = run(deps, "backup", {"app": "demo", "max_age": 93600})
    assert (out.status, out.message) == ("unknown", "cannot read %s/state/db.json: permission denied" % BK)


def test_the_backup_limit_comes_from_its_jobs_schedule(deps):
    job(deps, "backup-db", schedule="30 2 * * *")
    record(deps, finished_at=ago(deps, 26 * HOUR))
    out = run(deps, "backup", {"app": "demo", "job": "backup-db"})
    assert out.details["max_age_s"] == 24 * HOUR + HOUR + 600
    assert out.status == "critical"
    record(deps, finished_at=ago(deps, 20 * HOUR))
    assert run(deps, "backup", {"app": "demo", "job": "backup-db"}).status == "ok"


def test_a_backup_check_needs_a_limit():
    with pytest.raises(ValueError, match="needs 'max_age' or 'job'"):
        validate_config([{"name": "b", "backup": {"app": "demo"}}])
