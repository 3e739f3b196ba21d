# vitals-backup: database dumps, media archives, retention and restore tests of vitals.django
# (standard library only). The role installs it as /usr/local/sbin/vitals-backup and runs it
# through the tracked cron runner (`vitals-cron run backup-db`); the unit tests import it from
# roles/backup/files/. Every command reads the JSON config the role renders
# (/etc/vitals/backup/<app>.json; on the off-site host /etc/vitals/backup/<app>-offsite.json);
# layout and formats: docs/architecture.md. Off-site copies go to an append-only borg repository.
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
# <backup dir>/state/<kind>.json: what each backup job last produced (read by the backup check).
STATE_DIR = "state"
# Kinds copied off-site (safety dumps stay local) and the archive name globs retention works on.
OFFSITE_KINDS = ("db", "media")
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


def backup_record(kind, name, finished_at, size_bytes, sha256, *, restore_test=None):
    """The state record of one backup job (field names are read by the backup check)."""
    return {
        "kind": kind,
        "backup": name,
        "finished_at": iso(finished_at),
        "size_bytes": size_bytes,
        "sha256": sha256,
        "restore_test": restore_test,
    }


def write_record(config, record):
    directory = os.path.join(config["backup_dir"], STATE_DIR)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, record["kind"] + ".json")
    write_atomic(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode(), mode=0o640)
    return path


def record_backup(config, kind, name, restore_test=None, now=None):
    path = os.path.join(config["backup_dir"], name)
    with open(path + ".sha256", encoding="utf-8") as handle:
        digest = parse_checksum_line(handle.read())[0]
    return write_record(
        config, backup_record(kind, name, now or utc_now(), os.path.getsize(path), digest, restore_test=restore_test)
    )


# --- borg: the off-site repository ----------------------------------------------------------


def borg_env(offsite, base_env=None):
    """borg's environment: the passphrase is read from its 0600 file by borg itself (never an
    argument or an environment value), SSH with the dedicated key and the pinned host key."""
    env = dict(os.environ if base_env is None else base_env)
    env.update(
        {
            "BORG_REPO": offsite["repo"],
            "BORG_PASSCOMMAND": "cat %s" % offsite["passphrase_file"],
            # A repository found at another address, or unencrypted, is refused rather than asked about.
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "no",
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "no",
        }
    )
    if offsite.get("ssh_key"):
        env["BORG_RSH"] = "ssh -i %s -o BatchMode=yes -o StrictHostKeyChecking=yes" % offsite["ssh_key"]
    return env


def borg(offsite, args, run=None, cwd=None):
    """Run `borg <args>` on the repository; its stdout, or BackupError with borg's message."""
    proc = (run or subprocess.run)(
        ["borg", *args], env=borg_env(offsite), cwd=cwd, capture_output=True, text=True, check=False
    )
    # borg exits 1 for warnings (e.g. a file changed while read): the archive is still complete.
    if proc.returncode not in (0, 1):
        raise BackupError("borg %s failed (exit %d): %s" % (args[0], proc.returncode, proc.stderr.strip()[-1000:]))
    return proc.stdout


def archive_names(offsite, run=None):
    return [line for line in borg(offsite, ["list", "--short"], run=run).splitlines() if line]


def copy_offsite(config, name, run=None):
    """Add the backup and its checksum as archive <name> to the off-site repository."""
    offsite = config.get("offsite")
    if not offsite:
        return None
    borg(offsite, ["create", "::" + name, name, name + ".sha256"], run=run, cwd=config["backup_dir"])
    return offsite["repo"]


def choose_archive(names, kind, wanted=None):
    """The archive to fetch: `wanted` if the repository holds it, else the newest of `kind`."""
    if wanted:
        if wanted not in names:
            raise BackupError("the off-site repository holds no archive %s" % wanted)
        return wanted
    candidates = backups_of(names, kind)
    if not candidates:
        raise BackupError("the off-site repository holds no %s archive" % kind)
    return candidates[-1]


def fetch_offsite(config, kind, wanted=None, run=None):
    """Extract a backup from the off-site repository into the backup directory and check it."""
    offsite = config.get("offsite")
    if not offsite:
        raise BackupError("no off-site repository is configured")
    name = choose_archive(archive_names(offsite, run=run), kind, wanted)
    os.makedirs(config["backup_dir"], mode=0o2750, exist_ok=True)
    borg(offsite, ["extract", "::" + name], run=run, cwd=config["backup_dir"])
    ok, message = verify_checksum(os.path.join(config["backup_dir"], name))
    if not ok:
        raise BackupError(message)
    return name


def vanished_archives(previous, current):
    """Archives recorded after the last maintenance that the repository no longer lists: only this
    host's retention removes archives, so these were deleted (or hidden) by someone else."""
    if previous is None:
        return []
    return sorted(set(previous) - set(current))


def prune_args(kind, keep):
    return [
        "prune",
        "--glob-archives",
        kind + "-*",
        "--keep-daily",
        str(keep["daily"]),
        "--keep-weekly",
        str(keep["weekly"]),
        "--keep-monthly",
        str(keep["monthly"]),
    ]


def maintenance_record_path(config, repo):
    return os.path.join(config["state_dir"], re.sub(r"[^A-Za-z0-9._-]", "_", repo.strip("/")) + ".json")


def read_archive_record(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)["archives"]
    except FileNotFoundError:
        return None


def maintain_repository(config, repo, run=None, now=None):
    """On the backup host: refuse to prune when archives vanished, else prune, compact, record."""
    offsite = {"repo": repo, "passphrase_file": config["passphrase_file"]}
    record_path = maintenance_record_path(config, repo)
    current = archive_names(offsite, run=run)
    vanished = vanished_archives(read_archive_record(record_path), current)
    if vanished:
        # compact would free the segments the hidden archives still hold: leave the repository alone.
        raise BackupError(
            "%s: %d archive(s) vanished since the last maintenance, not pruned or compacted: %s "
            "(recover them: docs/architecture.md, off-site repository)" % (repo, len(vanished), ", ".join(vanished))
        )
    for kind in OFFSITE_KINDS:
        borg(offsite, prune_args(kind, config["keep"]), run=run)
    borg(offsite, ["compact"], run=run)
    kept = archive_names(offsite, run=run)
    os.makedirs(config["state_dir"], exist_ok=True)
    record = {"repo": repo, "checked_at": iso(now or utc_now()), "archives": kept}
    write_atomic(record_path, (json.dumps(record, indent=2) + "\n").encode(), mode=0o640)
    return len(current) - len(kept), len(kept)


def command_offsite_maintain(config, run=None):
    """Every repository is maintained; one with vanished archives fails the job at the end."""
    errors = []
    for repo in config["repos"]:
        try:
            pruned, kept = maintain_repository(config, repo, run=run)
            print("%s: pruned %d, kept %d archive(s)" % (repo, pruned, kept))
        except BackupError as exc:
            errors.append(str(exc))
    if errors:
        raise BackupError("; ".join(errors))
    return 0


def restore_media(config, name, run=None):
    """Replace the media directory by the archive's tree: extracted beside it (owners kept, as
    root), then swapped in by renames, so a failed extraction leaves the live media untouched."""
    parsed = parse_name(name)
    if parsed is None or parsed[0] != "media":
        raise BackupError("not a media archive: %s" % name)
    path = os.path.join(config["backup_dir"], name)
    ok, message = verify_checksum(path)
    if not ok:
        raise BackupError(message)
    media_dir = config["media_dir"].rstrip("/")
    parent = os.path.dirname(media_dir)
    staging = tempfile.mkdtemp(prefix=".media-restore-", dir=parent)
    try:
        proc = (run or subprocess.run)(
            ["tar", "-xzf", path, "-C", staging], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise BackupError("tar failed (exit %d): %s" % (proc.returncode, proc.stderr.strip()))
        retired = staging + "-old"
        if os.path.exists(media_dir):
            os.rename(media_dir, retired)
        os.rename(os.path.join(staging, "media"), media_dir)
        if os.path.exists(retired):
            subprocess.run(["rm", "-rf", "--one-file-system", retired], check=True)
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", staging], check=True)
    return name


def newest(config, kind="db"):
    names = backups_of(os.listdir(config["backup_dir"]), kind)
    if not names:
        raise BackupError("no %s backup in %s" % (kind, config["backup_dir"]))
    return names[-1]


def command_db(config, pg, now=None):
    """The scheduled database backup: dump, restore test, retention, copy. Exit 1 if any fails."""
    name = take_dump(config, pg, now=now)
    print("dump %s (%d bytes)" % (name, os.path.getsize(os.path.join(config["backup_dir"], name))))
    result = restore_test(config, pg, name, now=now)
    record_restore_test(config, result)
    print("restore test %s: %s" % (result["status"], result["message"]))
    record_backup(config, "db", name, restore_test=result, now=now)
    for doomed in prune(config["backup_dir"], "db", config["keep_daily"], config["keep_weekly"]) + prune(
        config["backup_dir"], "safety-db", 0, 0, keep_last=SAFETY_DUMPS_KEPT
    ):
        print("pruned %s" % doomed)
    repo = copy_offsite(config, name)
    if repo:
        print("copied off-site to %s" % repo)
    if result["status"] != "passed":
        print("vitals-backup: the restore test of %s failed: %s" % (name, result["message"]), file=sys.stderr)
        return 1
    return 0


def command_media(config, now=None):
    name = take_media_archive(config, now=now)
    print("media archive %s" % name)
    record_backup(config, "media", name, now=now)
    for doomed in prune(config["backup_dir"], "media", config["keep_daily"], config["keep_weekly"]):
        print("pruned %s" % doomed)
    repo = copy_offsite(config, name)
    if repo:
        print("copied off-site to %s" % repo)
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
    fetch = sub.add_parser("fetch", help="extract a backup from the off-site repository into the backup directory")
    fetch.add_argument("--kind", choices=OFFSITE_KINDS, default="db")
    fetch.add_argument("--backup", help="archive name (default: the newest of the kind)")
    media = sub.add_parser("restore-media", help="replace the media directory by a media archive")
    media.add_argument("--backup", help="file name (default: the newest media-*.tar.gz)")
    sub.add_parser("offsite-maintain", help="on the backup host: check, prune and compact the repositories")
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
    if args.action == "fetch":
        print(fetch_offsite(config, args.kind, args.backup))
        return 0
    if args.action == "restore-media":
        name = restore_media(config, args.backup or newest(config, "media"))
        print("restored %s into %s" % (name, config["media_dir"]))
        return 0
    if args.action == "offsite-maintain":
        return command_offsite_maintain(config)
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
