"""Backup logic (roles/backup/files/vitals_backup.py): names, retention, checksums, restore test, restore."""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import json
import pathlib
import subprocess
import tarfile

import pytest

SCRIPT_PATH = pathlib.Path(__file__).resolve().parents[2] / "roles" / "backup" / "files" / "vitals_backup.py"
_spec = importlib.util.spec_from_file_location("vitals_backup", SCRIPT_PATH)
backup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(backup)

UTC = datetime.UTC
NOW = datetime.datetime(2026, 11, 23, 19, 0, 0, tzinfo=UTC)


class FakePostgres:
    """Records the calls; restore copies the dump's bytes so counts can depend on what was restored."""

    def __init__(self, rows=None, fail=None):
        self.calls = []
        self.databases = {}
        self.rows = rows or {}
        self.fail = fail or set()

    def _maybe_fail(self, action):
        if action in self.fail:
            raise backup.BackupError("%s failed" % action)

    def dump(self, db_name, target):
        self.calls.append(("dump", db_name))
        self._maybe_fail("dump")
        pathlib.Path(target).write_bytes(b"PGDMP" + db_name.encode())

    def restore(self, source, db_name, keep_owners=False):
        self.calls.append(("restore", pathlib.Path(source).name, db_name, keep_owners))
        self._maybe_fail("restore")
        self.databases[db_name] = pathlib.Path(source).read_bytes()

    def create(self, db_name, owner=None):
        self.calls.append(("create", db_name, owner))
        self.databases[db_name] = b""

    def drop(self, db_name):
        self.calls.append(("drop", db_name))
        self.databases.pop(db_name, None)

    def count(self, db_name, table):
        self.calls.append(("count", db_name, table))
        self._maybe_fail("count")
        return self.rows[table]

    def copy_acl(self, source, target):
        self.calls.append(("copy_acl", source, target))

    def swap(self, live, replacement, retired):
        self.calls.append(("swap", live, replacement, retired))
        self.databases[retired] = self.databases.pop(live, b"")
        self.databases[live] = self.databases.pop(replacement)


@pytest.fixture
def config(tmp_path):
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    media = tmp_path / "media"
    (media / "uploads").mkdir(parents=True)
    (media / "uploads" / "a.txt").write_text("hello")
    return {
        "backup_dir": str(backup_dir),
        "media_dir": str(media),
        "db_name": "demo",
        "db_owner": "demo",
        "verify_tables": ["catalog_item", "public.auth_user"],
        "keep_daily": 7,
        "keep_weekly": 4,
        "remote": None,
    }


def at(*args):
    return datetime.datetime(*args, tzinfo=UTC)


# --- names ---------------------------------------------------------------------------------


def test_names_carry_the_utc_time_and_sort_by_it():
    assert backup.backup_name("db", NOW) == "db-20261123T190000Z.dump"
    assert backup.backup_name("media", NOW) == "media-20261123T190000Z.tar.gz"
    assert backup.backup_name("safety-db", NOW) == "safety-db-20261123T190000Z.dump"
    assert backup.parse_name("db-20261123T190000Z.dump") == ("db", NOW)
    names = [backup.backup_name("db", NOW - datetime.timedelta(hours=h)) for h in (0, 30, 5)]
    assert backup.backups_of([*names, "media-20261123T190000Z.tar.gz"], "db") == sorted(names)
    assert sorted(names)[-1] == "db-20261123T190000Z.dump"


@pytest.mark.parametrize(
    "name",
    [
        "db-20261123T190000Z.dump.sha256",
        "db-20261123T190000Z.tar.gz",
        "media-20261123T190000Z.dump",
        ".db-20261123T190000Z.dump.partial",
        "db-2026-11-23.dump",
        "restore-test.json",
    ],
)
def test_parse_name_ignores_other_files(name):
    assert backup.parse_name(name) is None


# --- retention -----------------------------------------------------------------------------


def test_retention_keeps_the_newest_per_day_for_n_days():
    # Three backups a day for ten days.
    moments = [at(2026, 11, d, h) for d in range(1, 11) for h in (1, 9, 17)]
    keep = backup.select_keep(moments, keep_daily=3, keep_weekly=0)
    assert keep == {at(2026, 11, 10, 17), at(2026, 11, 9, 17), at(2026, 11, 8, 17)}


def test_retention_keeps_the_newest_per_iso_week_for_n_weeks():
    moments = [at(2026, 10, 1) + datetime.timedelta(days=d) for d in range(60)]  # daily, to 2026-11-29
    keep = backup.select_keep(moments, keep_daily=2, keep_weekly=3)
    assert keep == {
        at(2026, 11, 29),  # newest: Sunday of ISO week 48, also that week's newest
        at(2026, 11, 28),  # second day
        at(2026, 11, 22),  # Sunday of week 47
        at(2026, 11, 15),  # Sunday of week 46
    }


def test_retention_always_keeps_the_newest_even_with_zero_counts():
    moments = [at(2026, 11, 1), at(2026, 11, 2)]
    assert backup.select_keep(moments, 0, 0) == {at(2026, 11, 2)}
    assert backup.select_keep(moments, 0, 0, keep_last=5) == set(moments)
    assert backup.select_keep([], 7, 4) == set()


def test_retention_with_gaps_counts_days_that_have_backups():
    moments = [at(2026, 1, 1), at(2026, 3, 1), at(2026, 6, 1)]
    assert backup.select_keep(moments, keep_daily=2, keep_weekly=0) == {at(2026, 6, 1), at(2026, 3, 1)}


def test_prune_plan_deletes_each_dropped_backup_with_its_checksum_and_only_its_kind():
    names = []
    for day in range(1, 6):
        for kind in ("db", "media", "safety-db"):
            name = backup.backup_name(kind, at(2026, 11, day))
            names += [name, name + ".sha256"]
    names.append("restore-test.json")
    doomed = backup.prune_plan(names, "db", keep_daily=2, keep_weekly=0)
    assert doomed == [
        "db-20261101T000000Z.dump",
        "db-20261101T000000Z.dump.sha256",
        "db-20261102T000000Z.dump",
        "db-20261102T000000Z.dump.sha256",
        "db-20261103T000000Z.dump",
        "db-20261103T000000Z.dump.sha256",
    ]


def test_prune_removes_files(config):
    directory = pathlib.Path(config["backup_dir"])
    for day in (1, 2, 3):
        name = backup.backup_name("media", at(2026, 11, day))
        (directory / name).write_text("x")
        (directory / (name + ".sha256")).write_text("x")
    backup.prune(str(directory), "media", keep_daily=1, keep_weekly=0)
    assert sorted(p.name for p in directory.iterdir()) == [
        "media-20261103T000000Z.tar.gz",
        "media-20261103T000000Z.tar.gz.sha256",
    ]


# --- checksums -----------------------------------------------------------------------------


def test_sealed_backup_verifies_and_sha256sum_agrees(config):
    directory = pathlib.Path(config["backup_dir"])
    partial = directory / ".x.partial"
    partial.write_bytes(b"data" * 1000)
    digest = backup.seal(str(partial), str(directory / "db-20261123T190000Z.dump"))
    assert not partial.exists()
    assert digest == hashlib.sha256(b"data" * 1000).hexdigest()
    assert backup.verify_checksum(str(directory / "db-20261123T190000Z.dump")) == (
        True,
        "db-20261123T190000Z.dump: checksum ok",
    )
    check = subprocess.run(["sha256sum", "-c", "db-20261123T190000Z.dump.sha256"], cwd=directory, check=False)
    assert check.returncode == 0


def test_truncated_backup_fails_its_checksum(config):
    path = pathlib.Path(config["backup_dir"]) / "db-20261123T190000Z.dump"
    partial = path.with_name(".partial")
    partial.write_bytes(b"x" * 4096)
    backup.seal(str(partial), str(path))
    path.write_bytes(b"x" * 100)
    ok, message = backup.verify_checksum(str(path))
    assert not ok
    assert "checksum mismatch" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no checksum file"),
        ("garbage\n", "malformed checksum file"),
        ("%s  other.dump\n" % ("0" * 64), "checksum file is for other.dump"),
    ],
)
def test_bad_checksum_files(config, content, expected):
    path = pathlib.Path(config["backup_dir"]) / "db-20261123T190000Z.dump"
    path.write_bytes(b"x")
    if content is not None:
        path.with_name(path.name + ".sha256").write_text(content)
    ok, message = backup.verify_checksum(str(path))
    assert not ok
    assert expected in message


# --- SQL -----------------------------------------------------------------------------------


def test_table_names_are_quoted_and_anything_else_refused():
    assert backup.count_query("catalog_item") == 'SELECT count(*) FROM "catalog_item"'
    assert backup.count_query("public.auth_user") == 'SELECT count(*) FROM "public"."auth_user"'
    for bad in ("x; DROP TABLE y", 'a"b', "a.b.c", "", "1abc"):
        with pytest.raises(backup.BackupError):
            backup.quote_ident(bad)


def test_copy_acl_regrants_the_live_privileges_on_the_new_database():
    sql = backup.copy_acl_sql("demo", "demo_restore_new")
    assert "aclexplode((SELECT datacl FROM pg_database WHERE datname = 'demo'))" in sql
    assert "REVOKE ALL ON DATABASE %I FROM PUBLIC', 'demo_restore_new'" in sql
    with pytest.raises(backup.BackupError):
        backup.copy_acl_sql("demo'; DROP DATABASE x; --", "demo_restore_new")


def test_swap_renames_both_databases_in_one_statement_list():
    sql = backup.swap_sql("demo", "demo_restore_new", "demo_restore_old")
    assert sql.index('RENAME TO "demo_restore_old"') < sql.index('"demo_restore_new" RENAME TO "demo"')
    assert "datname = 'demo'" in sql


# --- the jobs ------------------------------------------------------------------------------


def test_take_dump_seals_the_dump_and_leaves_no_partial_file(config):
    pg = FakePostgres()
    name = backup.take_dump(config, pg, now=NOW)
    assert name == "db-20261123T190000Z.dump"
    assert sorted(p.name for p in pathlib.Path(config["backup_dir"]).iterdir()) == [name, name + ".sha256"]
    assert backup.verify_checksum(str(pathlib.Path(config["backup_dir"]) / name))[0]
    with pytest.raises(backup.BackupError, match="already exists"):
        backup.take_dump(config, pg, now=NOW)


def test_failed_dump_leaves_nothing_behind(config):
    with pytest.raises(backup.BackupError):
        backup.take_dump(config, FakePostgres(fail={"dump"}), now=NOW)
    assert list(pathlib.Path(config["backup_dir"]).iterdir()) == []


def test_restore_test_restores_counts_and_drops_the_scratch_database(config):
    pg = FakePostgres(rows={"catalog_item": 42, "public.auth_user": 1})
    name = backup.take_dump(config, pg, now=NOW)
    result = backup.restore_test(config, pg, name, now=NOW)
    assert result == {
        "backup": name,
        "status": "passed",
        "tested_at": "2026-11-23T19:00:00Z",
        "tables": {"catalog_item": 42, "public.auth_user": 1},
        "message": "restored into demo_restore_test; 2 table(s) counted",
    }
    assert pg.calls[1:4] == [
        ("drop", "demo_restore_test"),
        ("create", "demo_restore_test", None),
        ("restore", name, "demo_restore_test", False),
    ]
    assert pg.calls[-1] == ("drop", "demo_restore_test")
    assert "demo_restore_test" not in pg.databases


@pytest.mark.parametrize("failing", ["restore", "count"])
def test_failed_restore_test_is_recorded_and_still_drops_the_scratch_database(config, failing):
    pg = FakePostgres(rows={"catalog_item": 1, "public.auth_user": 1}, fail={failing})
    name = backup.take_dump(config, pg, now=NOW)
    result = backup.restore_test(config, pg, name, now=NOW)
    assert (result["status"], result["message"]) == ("failed", "%s failed" % failing)
    assert pg.calls[-1] == ("drop", "demo_restore_test")


def test_restore_test_of_a_corrupt_dump_fails_without_touching_postgres(config):
    pg = FakePostgres()
    name = backup.take_dump(config, pg, now=NOW)
    (pathlib.Path(config["backup_dir"]) / name).write_bytes(b"PG")
    result = backup.restore_test(config, pg, name, now=NOW)
    assert result["status"] == "failed"
    assert "checksum mismatch" in result["message"]
    assert pg.calls == [("dump", "demo")]


def test_db_job_records_the_restore_test_and_applies_retention(config, capsys):
    directory = pathlib.Path(config["backup_dir"])
    pg = FakePostgres(rows={"catalog_item": 3, "public.auth_user": 1})
    old = [backup.take_dump(config, pg, now=at(2026, 1, d)) for d in (1, 2)]
    safety = [backup.take_dump(config, pg, kind="safety-db", now=at(2026, 1, d)) for d in (1, 2, 3, 4)]
    config["keep_daily"], config["keep_weekly"] = 2, 0
    assert backup.command_db(config, pg) == 0
    recorded = json.loads((directory / "restore-test.json").read_text())
    newest = backup.newest(config)
    assert (recorded["backup"], recorded["status"]) == (newest, "passed")
    assert sorted(backup.backups_of(list(p.name for p in directory.iterdir()), "db")) == [old[1], newest]
    assert backup.backups_of([p.name for p in directory.iterdir()], "safety-db") == safety[1:]
    assert "pruned %s" % old[0] in capsys.readouterr().out


def test_db_job_exits_1_when_the_restore_test_fails(config):
    pg = FakePostgres(fail={"restore"})
    assert backup.command_db(config, pg) == 1
    recorded = json.loads((pathlib.Path(config["backup_dir"]) / "restore-test.json").read_text())
    assert recorded["status"] == "failed"


def test_media_archive_holds_the_media_tree(config):
    name = backup.take_media_archive(config, now=NOW)
    path = pathlib.Path(config["backup_dir"]) / name
    assert backup.verify_checksum(str(path))[0]
    with tarfile.open(path) as tar:
        assert tar.extractfile("media/uploads/a.txt").read() == b"hello"


def test_media_archive_of_a_missing_directory_fails(config):
    config["media_dir"] = "/nonexistent/media"
    with pytest.raises(backup.BackupError, match="does not exist"):
        backup.take_media_archive(config, now=NOW)
    assert list(pathlib.Path(config["backup_dir"]).iterdir()) == []


def test_restore_swaps_in_a_verified_backup(config):
    pg = FakePostgres()
    first = backup.take_dump(config, pg, now=at(2026, 11, 1))
    newest = backup.take_dump(config, pg, now=at(2026, 11, 2))
    pg.calls.clear()
    assert backup.command_restore(config, pg, None) == 0
    assert pg.calls == [
        ("drop", "demo_restore_new"),
        ("drop", "demo_restore_old"),
        ("create", "demo_restore_new", "demo"),
        ("restore", newest, "demo_restore_new", True),
        ("copy_acl", "demo", "demo_restore_new"),
        ("swap", "demo", "demo_restore_new", "demo_restore_old"),
        ("drop", "demo_restore_old"),
    ]
    assert set(pg.databases) == {"demo"}
    pg.calls.clear()
    backup.command_restore(config, pg, first)
    assert ("restore", first, "demo_restore_new", True) in pg.calls


def test_failed_restore_never_swaps(config):
    pg = FakePostgres(fail={"restore"})
    backup.take_dump(config, pg, now=NOW)
    pg.databases["demo"] = b"live"
    with pytest.raises(backup.BackupError):
        backup.command_restore(config, pg, None)
    assert not any(call[0] == "swap" for call in pg.calls)
    assert pg.databases == {"demo": b"live"}


def test_restore_refuses_a_corrupt_or_foreign_file(config):
    pg = FakePostgres()
    name = backup.take_dump(config, pg, now=NOW)
    (pathlib.Path(config["backup_dir"]) / name).write_bytes(b"")
    pg.calls.clear()
    with pytest.raises(backup.BackupError, match="checksum mismatch"):
        backup.command_restore(config, pg, name)
    with pytest.raises(backup.BackupError, match="not a database backup"):
        backup.command_restore(config, pg, "media-20261123T190000Z.tar.gz")
    assert pg.calls == []


def test_copy_to_remote_mirrors_the_directory_with_rsync(config):
    seen = []

    def fake_run(argv, **kwargs):
        seen.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    assert backup.copy_to_remote(config, run=fake_run) is None
    config["remote"] = {"host": "root@backup1", "dir": "/var/backups/vitals/demo/db1/", "ssh_key": "/root/.ssh/k"}
    assert backup.copy_to_remote(config, run=fake_run) == "root@backup1"
    (argv,) = seen
    assert argv[0] == "rsync"
    assert "--delete" in argv
    assert argv[-2:] == [config["backup_dir"] + "/", "root@backup1:/var/backups/vitals/demo/db1/"]


def test_copy_to_remote_failure_is_reported(config):
    config["remote"] = {"host": "backup1", "dir": "/b", "ssh_key": "/k"}

    def failing(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 255, "", "Permission denied")

    with pytest.raises(backup.BackupError, match="Permission denied"):
        backup.copy_to_remote(config, run=failing)
