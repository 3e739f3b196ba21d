"""Item 3 of issue 12: tracked jobs and backups in real directories, as root (verify) and as an
unprivileged user through the vitals-health command (the monitor's view).

The directories have the cron and backup roles' layout; each state is made, checked, and undone.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.deps import SystemDeps
from ansible_collections.vitals.django.plugins.module_utils.health.runner import run_checks
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config

REPO = Path(__file__).resolve().parents[3]
DUMP = "db-20261123T023000Z.dump"


def stamp(delta):
    return (datetime.now(UTC) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def host():
    base = Path(tempfile.mkdtemp(prefix="vitals-health-work-"))
    base.chmod(0o755)
    dirs = {name: base / name for name in ("jobs", "state", "backups")}
    for path in dirs.values():
        path.mkdir(mode=0o755)
    yield dirs
    shutil.rmtree(base)


def define(host, job, schedule="30 2 * * *", age=timedelta(days=30)):
    path = host["jobs"] / ("%s.json" % job)
    path.write_text(json.dumps({"name": job, "schedule": schedule, "timeout": 3600}))
    then = time.time() - age.total_seconds()
    os.utime(path, (then, then))


def record_run(host, job, status, success_ago):
    state = {
        "job": job,
        "running": None,
        "last_run": {"status": status, "exit_code": {"success": 0, "failed": 1, "timeout": None}[status]},
        "last_success_at": stamp(success_ago),
    }
    (host["state"] / ("%s.json" % job)).write_text(json.dumps(state))


def record_backup(host, finished_ago, restore="passed"):
    data = b"PGDMP backup"
    (host["backups"] / DUMP).write_bytes(data)
    (host["backups"] / "state").mkdir(exist_ok=True)
    record = {
        "kind": "db",
        "backup": DUMP,
        "finished_at": stamp(finished_ago),
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "restore_test": {"status": restore, "tested_at": stamp(finished_ago), "message": "pg_restore: error"},
    }
    (host["backups"] / "state" / "db.json").write_text(json.dumps(record))


def checks(host):
    return [
        {"name": "cron-jobs", "cron": {"job": "*", "config_dir": str(host["jobs"]), "state_dir": str(host["state"])}},
        {
            "name": "backup-db",
            "backup": {"dir": str(host["backups"]), "job": "backup-db", "cron_config_dir": str(host["jobs"])},
        },
    ]


def verify(host):
    report = run_checks(validate_config(checks(host)), SystemDeps())
    return {r["name"]: r for r in report["checks"]}


def healthy(host):
    define(host, "backup-db")
    define(host, "clearsessions", schedule="@daily")
    record_run(host, "backup-db", "success", timedelta(hours=3))
    record_run(host, "clearsessions", "success", timedelta(hours=5))
    record_backup(host, timedelta(hours=3))


@pytest.mark.parametrize(
    ("break_it", "check", "status", "cause"),
    [
        (
            lambda h: record_run(h, "clearsessions", "failed", timedelta(hours=30)),
            "cron-jobs",
            "critical",
            "job clearsessions: last run failed (exit 1)",
        ),
        (
            lambda h: record_run(h, "clearsessions", "timeout", timedelta(hours=5)),
            "cron-jobs",
            "critical",
            "job clearsessions: last run was killed at its timeout",
        ),
        (lambda h: record_backup(h, timedelta(days=3)), "backup-db", "critical", "s old, limit 90600 s"),
        (
            lambda h: record_backup(h, timedelta(hours=3), restore="failed"),
            "backup-db",
            "critical",
            "last restore test of None failed: pg_restore: error",
        ),
        (
            lambda h: shutil.rmtree(h["backups"] / "state") or (h["backups"] / DUMP).unlink(),
            "backup-db",
            "critical",
            "no db-* backup in",
        ),
    ],
    ids=["job-failed", "job-timed-out", "stale-backup", "failed-restore-test", "no-backup"],
)
def test_each_state_is_critical_naming_its_cause_then_green_when_undone(host, break_it, check, status, cause):
    healthy(host)
    assert {n: r["status"] for n, r in verify(host).items()} == {"cron-jobs": "ok", "backup-db": "ok"}
    break_it(host)
    result = verify(host)[check]
    assert result["status"] == status, result
    assert cause in result["message"]
    healthy(host)
    assert verify(host)[check]["status"] == "ok"


def test_no_backup_is_a_warning_until_the_first_is_due(host):
    define(host, "backup-db", age=timedelta(hours=1))
    result = verify(host)["backup-db"]
    assert result["status"] == "warning"
    assert "yet; the first is due by" in result["message"]


def run_cli_as_nobody(host):
    config = host["jobs"].parent / "health.json"
    config.write_text(json.dumps({"checks": checks(host)}))
    config.chmod(0o644)
    code = (
        "import sys; sys.path.insert(0, %r); "
        "from ansible_collections.vitals.django.plugins.module_utils.health.cli import main; "
        "sys.exit(main())" % str(REPO / "build" / "collections")
    )
    proc = subprocess.run(
        [
            "runuser",
            "-u",
            "nobody",
            "--",
            "/usr/bin/python3",
            "-I",
            "-c",
            code,
            "--config",
            str(config),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, {r["name"]: r for r in json.loads(proc.stdout)["checks"]}


def test_the_monitor_reads_jobs_and_reads_backups_only_through_the_group(host):
    healthy(host)
    # As the backup role leaves them with backup_group root: the monitor cannot read them and says so.
    shutil.chown(host["backups"], "root", "root")
    host["backups"].chmod(0o2750)
    rc, results = run_cli_as_nobody(host)
    assert results["cron-jobs"]["status"] == "ok"
    assert (results["backup-db"]["status"], rc) == ("unknown", 3)
    assert "permission denied" in results["backup-db"]["message"]
    # backup_group set to the monitor's group: it reads them, no root needed.
    shutil.chown(host["backups"], "root", "nogroup")
    rc, results = run_cli_as_nobody(host)
    assert (results["backup-db"]["status"], rc) == ("ok", 0)
