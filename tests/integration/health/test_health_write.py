"""Item 1 of issue 12: the postgres check proves the database accepts the app's writes.

A real PostgreSQL 15 on loopback with the write probe's schema as roles/postgresql creates it;
each state that makes the app's writes fail makes the check critical, naming PostgreSQL's reason,
and the check is green again once the state is undone.
"""

import os
import subprocess

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.deps import SystemDeps
from ansible_collections.vitals.django.plugins.module_utils.health.runner import run_checks
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config
from conftest import PG_BIN, PG_PASSWORD

APP_PASSWORD = "App-Integration-Secret-5"
# The same objects roles/postgresql/tasks/database.yml creates.
SETUP = (
    """
CREATE ROLE app LOGIN PASSWORD '%s';
CREATE DATABASE appdb OWNER app;
\\c appdb
CREATE SCHEMA vitals AUTHORIZATION app;
CREATE TABLE vitals.health_write (id smallint PRIMARY KEY CHECK (id = 1), written_at timestamptz, written_by text);
ALTER TABLE vitals.health_write OWNER TO app;
INSERT INTO vitals.health_write (id) VALUES (1);
"""
    % APP_PASSWORD
)


def psql(postgres, sql, dbname="postgres", *options):
    proc = subprocess.run(
        [
            str(PG_BIN / "psql"),
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            *options,
            "-h",
            "127.0.0.1",
            "-p",
            str(postgres["port"]),
            "-U",
            "postgres",
            "-d",
            dbname,
        ],
        input=sql,
        env=dict(os.environ, PGPASSWORD=PG_PASSWORD),
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def app_db(postgres):
    psql(postgres, SETUP)
    return {"host": "127.0.0.1", "port": postgres["port"], "user": "app", "password": APP_PASSWORD, "dbname": "appdb"}


def check(app_db, write=True):
    config = validate_config([{"name": "database", "postgres": {**app_db, "write": write}}], within=5, delay=1)
    return run_checks(config, SystemDeps())["checks"][0]


def written_by(postgres):
    return psql(postgres, "SELECT written_by FROM vitals.health_write", "appdb", "-Atq").strip()


def test_a_healthy_database_accepts_the_committed_write(app_db, postgres):
    result = check(app_db)
    assert (result["status"], result["stopped"]) == ("ok", "passed"), result
    assert result["message"] == "query returned '1'; write committed"
    # Committed, not rolled back: another session sees it.
    assert written_by(postgres) == "app"


@pytest.mark.parametrize(
    ("break_sql", "undo_sql", "reason"),
    [
        (
            "REVOKE UPDATE ON vitals.health_write FROM app",
            "GRANT UPDATE ON vitals.health_write TO app",
            "permission denied for table health_write",
        ),
        (
            "ALTER ROLE app SET default_transaction_read_only = on",
            "ALTER ROLE app RESET default_transaction_read_only",
            "cannot execute UPDATE in a read-only transaction",
        ),
        (
            "ALTER DATABASE appdb SET default_transaction_read_only = on",
            "SET default_transaction_read_only = off; ALTER DATABASE appdb RESET default_transaction_read_only",
            "cannot execute UPDATE in a read-only transaction",
        ),
    ],
    ids=["table-privileges", "read-only-role", "read-only-database"],
)
def test_a_database_refusing_writes_is_critical_at_once_then_green_again(app_db, postgres, break_sql, undo_sql, reason):
    psql(postgres, break_sql, dbname="appdb")
    try:
        # The read-only probe of today cannot see it...
        assert check(app_db, write=False)["status"] == "ok"
        # ...the write probe does, definitively (confirmed once, not retried through the window).
        result = check(app_db)
        assert (result["status"], result["stopped"], result["attempts"]) == ("critical", "definitive", 2)
        assert result["message"] == "write refused: %s" % reason
    finally:
        psql(postgres, undo_sql, dbname="appdb")
    assert check(app_db)["status"] == "ok"


def test_a_stopped_server_is_transient_and_retried(app_db, closed_port):
    result = check({**app_db, "port": closed_port})
    assert (result["status"], result["stopped"]) == ("critical", "window-expired")
    assert "Connection refused" in result["message"]
    assert result["attempts"] >= 3
