# vitals-backup: database dumps, media archives, retention and restore tests of vitals.django
# (standard library only). The role installs it as /usr/local/sbin/vitals-backup and runs it
# through the tracked cron runner (`vitals-cron run backup-db`); the unit tests import it from
# roles/backup/files/. Every command reads the JSON config the role renders
# (/etc/vitals/backup/<app>.json); layout and formats: docs/architecture.md.
from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import os
import pwd
import re
import subprocess
import sys
import tarfile
import tempfile

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
KINDS = {"db": ".dump", "media": ".tar.gz", "safety-db": ".dump"}
NAME_RE = re.compile(r"^(?P<kind>db|media|safety-db)-(?P<stamp>\d{8}T\d{6}Z)(?P<ext>\.dump|\.tar\.gz)$")
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
RESTORE_TEST_FILE = "restore-test.json"
# Safety dumps (taken by the restore playbook) kept by the database job's retention.
SAFETY_DUMPS_KEPT = 3


class BackupError(Exception):
    """A failure to report in one line (the runner keeps the output tail)."""


# --- names, checksums, retention: pure functions ------------------------------------------


def utc_now():
    return datetime.datetime.now(datetime.UTC)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def backup_name(kind, moment):
    return "%s-%s%s" % (kind, moment.strftime(STAMP_FORMAT), KINDS[kind])


def parse_name(name):
    """(kind, UTC datetime) of a backup file name, None for anything else."""
    match = NAME_RE.match(name)
    if not match or KINDS[match.group("kind")] != match.group("ext"):
        return None
    moment = datetime.datetime.strptime(match.group("stamp"), STAMP_FORMAT).replace(tzinfo=datetime.UTC)
    return match.group("kind"), moment


def backups_of(names, kind):
    """The backup names of one kind, oldest first (names sort by time)."""
    return sorted(n for n in names if (parse_name(n) or (None,))[0] == kind)


def select_keep(moments, keep_daily, keep_weekly, keep_last=1):
    """Which backups retention keeps: the newest `keep_last`, plus the newest backup of each of the
    last `keep_daily` days and of each of the last `keep_weekly` ISO weeks that have backups."""
    ordered = sorted(set(moments), reverse=True)
    keep = set(ordered[:keep_last])
    for period, count in ((lambda m: m.date(), keep_daily), (lambda m: m.isocalendar()[:2], keep_weekly)):
        seen = []
        for moment in ordered:
            key = period(moment)
            if key in seen:
                continue
            if len(seen) == count:
                break
            seen.append(key)
            keep.add(moment)
    return keep


def prune_plan(names, kind, keep_daily, keep_weekly, keep_last=1):
    """File names to delete for one kind (each backup with its .sha256)."""
    backups = {parse_name(n)[1]: n for n in backups_of(names, kind)}
    keep = select_keep(backups, keep_daily, keep_weekly, keep_last)
    doomed = []
    for moment in sorted(backups):
        if moment not in keep:
            doomed.extend([backups[moment], backups[moment] + ".sha256"])
    return [n for n in doomed if n in names]


def checksum_line(digest, name):
    """sha256sum's format, so `sha256sum -c` checks our files too."""
    return "%s  %s\n" % (digest, name)


def parse_checksum_line(text):
    match = re.match(r"^([0-9a-f]{64}) [ *](.+)$", text.strip())
    if not match:
        raise BackupError("malformed checksum file")
    return match.group(1), match.group(2)


def quote_ident(name):
    """Quote `table` or `schema.table` for SQL; refuse anything else."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(IDENT_RE.match(p) for p in parts):
        raise BackupError("not a table name: %r" % name)
    return ".".join('"%s"' % p for p in parts)


def count_query(table):
    return "SELECT count(*) FROM %s" % quote_ident(table)


def scratch_database(db_name):
    return db_name + "_restore_test"


def copy_acl_sql(source, target):
    """Give `target` the database-level privileges of `source` (pg_dump leaves them out without
    --create), e.g. the REVOKE CONNECT FROM PUBLIC of the postgresql role."""
    quote_ident(source)
    quote_ident(target)
    return (
        "DO $$ DECLARE acl record; BEGIN "
        "IF (SELECT datacl FROM pg_database WHERE datname = '{s}') IS NOT NULL THEN "
        "EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', '{t}'); "
        "FOR acl IN SELECT * FROM aclexplode((SELECT datacl FROM pg_database WHERE datname = '{s}')) LOOP "
        "EXECUTE format('GRANT %s ON DATABASE %I TO %s', acl.privilege_type, '{t}', "
        "CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(acl.grantee::regrole::text) END); "
        "END LOOP; END IF; END $$"
    ).format(s=source, t=target)


def swap_sql(live, replacement, retired):
    """One statement list, run by psql -c as one transaction: both renames happen or neither."""
    return (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' AND pid <> pg_backend_pid(); "
        "ALTER DATABASE %s RENAME TO %s; ALTER DATABASE %s RENAME TO %s;"
        % (live, quote_ident(live), quote_ident(retired), quote_ident(replacement), quote_ident(live))
    )


# --- files ---------------------------------------------------------------------------------


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path, data, mode=0o640):
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def verify_checksum(path):
    """(ok, message): does `path` match the digest recorded in `path`.sha256?"""
    name = os.path.basename(path)
    try:
        with open(path + ".sha256", encoding="utf-8") as handle:
            expected, recorded_name = parse_checksum_line(handle.read())
    except FileNotFoundError:
        return False, "%s: no checksum file" % name
    except BackupError as exc:
        return False, "%s: %s" % (name, exc)
    if recorded_name != name:
        return False, "%s: checksum file is for %s" % (name, recorded_name)
    try:
        actual = sha256_file(path)
    except FileNotFoundError:
        return False, "%s: missing" % name
    if actual != expected:
        return False, "%s: checksum mismatch (expected %s, got %s)" % (name, expected, actual)
    return True, "%s: checksum ok" % name


def seal(partial, final):
    """Publish a finished backup: checksum it, then rename it to its final name (never half-written)."""
    digest = sha256_file(partial)
    os.chmod(partial, 0o640)
    os.replace(partial, final)
    write_atomic(final + ".sha256", checksum_line(digest, os.path.basename(final)).encode())
    return digest


def archive_media(media_dir, target):
    """tar.gz of the media directory (stored as media/...), written to target."""
    if not os.path.isdir(media_dir):
        raise BackupError("media directory %s does not exist" % media_dir)
    with open(target, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w") as tar:
            tar.add(media_dir, arcname="media")
        zipped.flush()
        raw.flush()
        os.fsync(raw.fileno())


def prune(backup_dir, kind, keep_daily, keep_weekly, keep_last=1):
    doomed = prune_plan(os.listdir(backup_dir), kind, keep_daily, keep_weekly, keep_last)
    for name in doomed:
        os.unlink(os.path.join(backup_dir, name))
    return doomed


# --- PostgreSQL, through its command line tools as the postgres user -----------------------


class Postgres:
    """pg_dump / pg_restore / psql over the local unix socket, run as `user` (peer auth)."""

    def __init__(self, user="postgres"):
        self.user = user

    def _argv(self, argv):
        if pwd.getpwuid(os.geteuid()).pw_name == self.user:
            return argv
        return ["runuser", "-u", self.user, "--", *argv]

    def _run(self, argv, **kwargs):
        proc = subprocess.run(self._argv(argv), capture_output=True, check=False, **kwargs)
        if proc.returncode != 0:
            error = proc.stderr.decode(errors="replace").strip() if isinstance(proc.stderr, bytes) else proc.stderr
            raise BackupError("%s failed (exit %d): %s" % (argv[0], proc.returncode, error))
        return proc.stdout

    def dump(self, db_name, target):
        with open(target, "wb") as out:
            proc = subprocess.run(
                self._argv(["pg_dump", "--format=custom", "--dbname", db_name]),
                stdout=out,
                stderr=subprocess.PIPE,
                check=False,
            )
            out.flush()
            os.fsync(out.fileno())
        if proc.returncode != 0:
            raise BackupError(
                "pg_dump failed (exit %d): %s" % (proc.returncode, proc.stderr.decode(errors="replace").strip())
            )

    def restore(self, source, db_name, keep_owners=False):
        """pg_restore in one transaction: on any error the target database is left as it was."""
        argv = ["pg_restore", "--exit-on-error", "--single-transaction", "--dbname", db_name]
        if not keep_owners:
            argv += ["--no-owner", "--no-privileges"]
        with open(source, "rb") as data:
            self._run(argv, stdin=data)

    def create(self, db_name, owner=None):
        self._run(["createdb", *(["--owner", owner] if owner else []), db_name])

    def copy_acl(self, source, target):
        self._run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", copy_acl_sql(source, target)])

    def swap(self, live, replacement, retired):
        """Put `replacement` in place of `live` in one transaction (renames), ending live's sessions."""
        sql = swap_sql(live, replacement, retired)
        self._run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql])

    def drop(self, db_name):
        self._run(["dropdb", "--if-exists", db_name])

    def count(self, db_name, table):
        return int(
            self._run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", db_name, "-c", count_query(table)]).strip()
        )


# --- the commands ---------------------------------------------------------------------------


def take_dump(config, pg, kind="db", now=None):
    """Dump the database to <kind>-<UTC stamp>.dump (+ .sha256); return the file name."""
    name = backup_name(kind, now or utc_now())
    final = os.path.join(config["backup_dir"], name)
    if os.path.exists(final):
        raise BackupError("%s already exists" % name)
    partial = os.path.join(config["backup_dir"], "." + name + ".partial")
    try:
        pg.dump(config["db_name"], partial)
        seal(partial, final)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return name


def take_media_archive(config, now=None):
    name = backup_name("media", now or utc_now())
    final = os.path.join(config["backup_dir"], name)
    partial = os.path.join(config["backup_dir"], "." + name + ".partial")
    try:
        archive_media(config["media_dir"], partial)
        seal(partial, final)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return name


def restore_test(config, pg, name, now=None):
    """Restore `name` into a scratch database, count the configured tables, drop it: the result."""
    scratch = scratch_database(config["db_name"])
    result = {"backup": name, "status": "failed", "tested_at": None, "tables": {}, "message": ""}
    ok, message = verify_checksum(os.path.join(config["backup_dir"], name))
    try:
        if not ok:
            raise BackupError(message)
        pg.drop(scratch)
        pg.create(scratch)
        try:
            pg.restore(os.path.join(config["backup_dir"], name), scratch)
            for table in config["verify_tables"]:
                result["tables"][table] = pg.count(scratch, table)
        finally:
            pg.drop(scratch)
        result["status"] = "passed"
        result["message"] = "restored into %s; %d table(s) counted" % (scratch, len(result["tables"]))
    except BackupError as exc:
        result["message"] = str(exc)
    result["tested_at"] = iso(now or utc_now())
    return result


def record_restore_test(config, result):
    path = os.path.join(config["backup_dir"], RESTORE_TEST_FILE)
    write_atomic(path, (json.dumps(result, indent=2, sort_keys=True) + "\n").encode(), mode=0o644)


def copy_to_remote(config, run=subprocess.run):
    """Mirror the backup directory to the backup host (rsync over SSH); --delete carries retention."""
    remote = config.get("remote")
    if not remote:
        return None
    ssh = "ssh -i %s -o BatchMode=yes -o StrictHostKeyChecking=yes" % remote["ssh_key"]
    argv = [
        "rsync",
        "--archive",
        "--delete",
        "--exclude",
        ".*",
        "--rsh",
        ssh,
        config["backup_dir"].rstrip("/") + "/",
        "%s:%s/" % (remote["host"], remote["dir"].rstrip("/")),
    ]
    proc = run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError("rsync to %s failed (exit %d): %s" % (remote["host"], proc.returncode, proc.stderr.strip()))
    return remote["host"]


def newest(config, kind="db"):
    names = backups_of(os.listdir(config["backup_dir"]), kind)
    if not names:
        raise BackupError("no %s backup in %s" % (kind, config["backup_dir"]))
    return names[-1]


def command_db(config, pg):
    """The scheduled database backup: dump, restore test, retention, copy. Exit 1 if any fails."""
    name = take_dump(config, pg)
    print("dump %s (%d bytes)" % (name, os.path.getsize(os.path.join(config["backup_dir"], name))))
    result = restore_test(config, pg, name)
    record_restore_test(config, result)
    print("restore test %s: %s" % (result["status"], result["message"]))
    for doomed in prune(config["backup_dir"], "db", config["keep_daily"], config["keep_weekly"]) + prune(
        config["backup_dir"], "safety-db", 0, 0, keep_last=SAFETY_DUMPS_KEPT
    ):
        print("pruned %s" % doomed)
    host = copy_to_remote(config)
    if host:
        print("copied to %s" % host)
    return 0 if result["status"] == "passed" else 1


def command_media(config):
    name = take_media_archive(config)
    print("media archive %s" % name)
    for doomed in prune(config["backup_dir"], "media", config["keep_daily"], config["keep_weekly"]):
        print("pruned %s" % doomed)
    host = copy_to_remote(config)
    if host:
        print("copied to %s" % host)
    return 0


def command_restore(config, pg, name):
    """Replace the live database by a backup (the restore playbook stops the app first).

    The backup is restored, owners kept, into <db>_restore_new; only when that succeeded are the
    databases swapped by renaming, so a failed restore leaves the live database untouched and a
    restore leaves no object created after the backup behind (as pg_restore --clean would).
    """
    name = name or newest(config)
    parsed = parse_name(name)
    if parsed is None or parsed[0] not in ("db", "safety-db"):
        raise BackupError("not a database backup: %s" % name)
    ok, message = verify_checksum(os.path.join(config["backup_dir"], name))
    if not ok:
        raise BackupError(message)
    live = config["db_name"]
    replacement, retired = live + "_restore_new", live + "_restore_old"
    pg.drop(replacement)
    pg.drop(retired)
    pg.create(replacement, owner=config["db_owner"])
    try:
        pg.restore(os.path.join(config["backup_dir"], name), replacement, keep_owners=True)
        pg.copy_acl(live, replacement)
    except BackupError:
        pg.drop(replacement)
        raise
    pg.swap(live, replacement, retired)
    pg.drop(retired)
    print("restored %s into %s" % (name, live))
    return 0


def command_list(config):
    rows = []
    for name in sorted(os.listdir(config["backup_dir"])):
        parsed = parse_name(name)
        if parsed:
            path = os.path.join(config["backup_dir"], name)
            rows.append({"name": name, "kind": parsed[0], "taken_at": iso(parsed[1]), "size": os.path.getsize(path)})
    print(json.dumps(rows, indent=2))
    return 0


def load_config(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def build_parser():
    parser = argparse.ArgumentParser(prog="vitals-backup", description="Backups of vitals.django.")
    parser.add_argument("--config", required=True, help="the role's JSON config, /etc/vitals/backup/<app>.json")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("db", help="dump the database, test its restore, apply retention, copy")
    sub.add_parser("media", help="archive the media directory, apply retention, copy")
    dump = sub.add_parser("dump", help="only dump the database (e.g. the safety dump before a restore)")
    dump.add_argument("--kind", choices=["db", "safety-db"], default="db")
    sub.add_parser("restore-test", help="test the restore of the newest dump and record it")
    restore = sub.add_parser("restore", help="restore a dump into the live database")
    restore.add_argument("--backup", help="file name (default: the newest db-*.dump)")
    verify = sub.add_parser("verify", help="check a backup against its .sha256")
    verify.add_argument("backup", help="file name in the backup directory (default: the newest dump)", nargs="?")
    sub.add_parser("list", help="the backups, as JSON")
    return parser


def dispatch(args, config, pg):
    if args.action == "db":
        return command_db(config, pg)
    if args.action == "media":
        return command_media(config)
    if args.action == "dump":
        print(take_dump(config, pg, kind=args.kind))
        return 0
    if args.action == "restore-test":
        result = restore_test(config, pg, newest(config))
        record_restore_test(config, result)
        print("restore test %s: %s" % (result["status"], result["message"]))
        return 0 if result["status"] == "passed" else 1
    if args.action == "restore":
        return command_restore(config, pg, args.backup)
    if args.action == "verify":
        ok, message = verify_checksum(os.path.join(config["backup_dir"], args.backup or newest(config)))
        print(message)
        return 0 if ok else 1
    return command_list(config)


def main(argv=None):
    args = build_parser().parse_args(argv)
    config = load_config(args.config)
    os.umask(0o027)
    try:
        return dispatch(args, config, Postgres(config.get("postgres_user", "postgres")))
    except BackupError as exc:
        print("vitals-backup: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
