# vitals-cron: the tracked cron runner of vitals.django (standard library only).
#
# `vitals-cron run JOB` runs the job defined in <config-dir>/JOB.json under an exclusive lock
# and a timeout, appends its full output to <log-dir>/JOB.log and records the run in
# <state-dir>/JOB.json (format: docs/architecture.md). `vitals-cron list` shows every job.
# A failed or timed-out run writes its reason and output tail to stderr, so cron mails it to
# MAILTO, and runs the job's optional `on_failure` command (the result as JSON on stdin).
# The role installs this file as /usr/local/bin/vitals-cron with a python3 shebang prepended;
# the unit tests import it from roles/cron/files/. It reads env files with
# /usr/local/lib/vitals/vitals_envfile.py, which the role installs too.
from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import grp
import json
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time

# The one env-file parser (plugins/module_utils/health/envfile.py), installed by the role.
sys.path.insert(0, "/usr/local/lib/vitals")
from vitals_envfile import parse_env_file  # noqa: E402

CONFIG_DIR = "/etc/vitals/cron/jobs"
STATE_DIR = "/var/lib/vitals/cron"
LOCK_DIR = "/run/vitals/cron"
LOG_DIR = "/var/log/vitals/cron"
TAIL_BYTES = 4096
DEFAULT_KILL_GRACE = 10.0
# Exit codes of the runner itself, so cron and people can tell outcomes apart.
EXIT_TIMEOUT = 124  # as timeout(1)
EXIT_SKIPPED = 75  # EX_TEMPFAIL: another run holds the lock
EXIT_USAGE = 64
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A failure hook (a mail, a webhook) that hangs must not hold the job's lock for long.
ON_FAILURE_TIMEOUT = 60


def utc_now():
    return datetime.datetime.now(datetime.UTC)


def isoformat(moment):
    """2026-11-23T19:00:00Z: the timestamp format of every state file."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def empty_state(job):
    return {
        "job": job,
        "running": None,
        "last_run": None,
        "last_success_at": None,
        "last_skipped_at": None,
        "skipped_count": 0,
    }


def record_start(state, pid, started_at):
    new = dict(state)
    new["running"] = {"pid": pid, "started_at": isoformat(started_at)}
    return new


def record_skip(state, skipped_at):
    new = dict(state)
    new["last_skipped_at"] = isoformat(skipped_at)
    new["skipped_count"] = int(state.get("skipped_count") or 0) + 1
    return new


def classify(returncode, timed_out):
    """Map a finished process to (status, exit_code) as the state file records them."""
    if timed_out:
        return "timeout", None
    if returncode < 0:
        # Killed by a signal from outside: report it the way a shell does.
        return "failed", 128 - returncode
    return ("success" if returncode == 0 else "failed"), returncode


def record_end(state, *, status, exit_code, started_at, finished_at, output_tail):
    new = dict(state)
    new["running"] = None
    new["last_run"] = {
        "status": status,
        "exit_code": exit_code,
        "started_at": isoformat(started_at),
        "finished_at": isoformat(finished_at),
        "duration_s": round((finished_at - started_at).total_seconds(), 3),
        "output_tail": output_tail,
    }
    if status == "success":
        new["last_success_at"] = isoformat(finished_at)
    return new


def runner_exit_code(status, exit_code):
    if status == "timeout":
        return EXIT_TIMEOUT
    return exit_code


def failure_report(job, last_run):
    """What cron mails for a failed or timed-out run (None for a success): reason, then output tail."""
    if last_run["status"] == "success":
        return None
    if last_run["status"] == "timeout":
        reason = "timed out after %.0fs and was killed" % last_run["duration_s"]
    else:
        reason = "failed with exit code %s" % last_run["exit_code"]
    lines = [
        "vitals-cron: job %s %s (started %s)." % (job, reason, last_run["started_at"]),
        "--- output tail ---",
        last_run["output_tail"].rstrip("\n"),
    ]
    return "\n".join(lines) + "\n"


def failure_payload(job, last_run):
    """The JSON document an on_failure command reads on stdin."""
    return {"job": job, **last_run}


def failure_environment(job, last_run, base_env=None):
    """The on_failure command's environment: the runner's, plus the job's name and outcome."""
    env = dict(os.environ if base_env is None else base_env)
    env.update(
        {
            "VITALS_CRON_JOB": job,
            "VITALS_CRON_STATUS": last_run["status"],
            "VITALS_CRON_EXIT_CODE": "" if last_run["exit_code"] is None else str(last_run["exit_code"]),
            "VITALS_CRON_STARTED_AT": last_run["started_at"],
        }
    )
    return env


def run_on_failure(argv, job, last_run, timeout=ON_FAILURE_TIMEOUT):
    """Run the failure hook; return None when it succeeded, else why it did not (for stderr)."""
    payload = json.dumps(failure_payload(job, last_run), sort_keys=True).encode()
    try:
        proc = subprocess.run(
            argv,
            input=payload,
            capture_output=True,
            env=failure_environment(job, last_run),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "on_failure command timed out after %ss" % timeout
    except OSError as exc:
        return "on_failure command cannot start: %s" % exc
    if proc.returncode != 0:
        return "on_failure command failed (exit %d): %s" % (
            proc.returncode,
            decode_tail(proc.stderr + proc.stdout, 1024).strip(),
        )
    return None


def read_state(path, job):
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except FileNotFoundError:
        return empty_state(job)
    merged = empty_state(job)
    merged.update(state)
    return merged


def write_state(path, state):
    """Write JSON atomically: readers see the old or the new file, never a partial one."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def update_state(paths, job, change):
    """Read-modify-write the state under its own short lock (the job lock may be held by another run)."""
    with open(paths["state_lock"], "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = change(read_state(paths["state"], job))
        write_state(paths["state"], state)
    return state


def try_lock(path):
    """Take the job's exclusive lock without waiting; None when another run holds it."""
    handle = open(path, "ab")  # noqa: SIM115 - held open for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def decode_tail(data, limit=TAIL_BYTES):
    return data[-limit:].decode("utf-8", errors="replace")


def read_tail(path, offset, limit=TAIL_BYTES):
    """The last `limit` bytes written to `path` after `offset` (this run's output)."""
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        handle.seek(max(offset, end - limit))
        return decode_tail(handle.read(), limit)


def job_environment(definition, account, base_env=None):
    """The job's environment: a clean login-like base, the env file, then the venv on PATH."""
    base = base_env if base_env is not None else os.environ
    env = {"PATH": base.get("PATH") or DEFAULT_PATH, "LANG": base.get("LANG", "C.UTF-8")}
    if account is not None:
        env.update({"HOME": account.pw_dir, "USER": account.pw_name, "LOGNAME": account.pw_name})
    env_file = definition.get("env_file")
    if env_file and os.path.exists(env_file):
        with open(env_file, encoding="utf-8") as handle:
            env.update(parse_env_file(handle.read()))
    for directory in reversed(definition.get("path_prepend") or []):
        env["PATH"] = directory + os.pathsep + env["PATH"]
    env["VITALS_CRON_JOB"] = definition["name"]
    return env


def load_definition(config_dir, job):
    with open(os.path.join(config_dir, job + ".json"), encoding="utf-8") as handle:
        definition = json.load(handle)
    if not isinstance(definition.get("command"), list) or not definition["command"]:
        raise ValueError("job %s: 'command' must be a non-empty list" % job)
    # An empty list: no failure command (the role writes the key for every job).
    on_failure = definition.get("on_failure")
    if on_failure is not None and not isinstance(on_failure, list):
        raise ValueError("job %s: 'on_failure' must be a command list" % job)
    definition.setdefault("name", job)
    return definition


def kill_group(proc, grace):
    """TERM the job's whole process group, then KILL what is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # The leader is gone; orphans that ignored TERM still share its group id.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_command(argv, timeout, log_handle, *, env=None, account=None, kill_grace=DEFAULT_KILL_GRACE):
    """Run argv in its own session with output to log_handle; return (returncode, timed_out)."""
    kwargs = {}
    if account is not None and account.pw_uid != os.geteuid():
        groups = [g.gr_gid for g in grp.getgrall() if account.pw_name in g.gr_mem]
        kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": groups}
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log_handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
        cwd=account.pw_dir if account is not None and os.path.isdir(account.pw_dir) else "/",
        **kwargs,
    )
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        kill_group(proc, kill_grace)
        return proc.returncode, True


def job_paths(job, state_dir, lock_dir, log_dir):
    return {
        "state": os.path.join(state_dir, job + ".json"),
        "state_lock": os.path.join(lock_dir, job + ".state.lock"),
        "lock": os.path.join(lock_dir, job + ".lock"),
        "log": os.path.join(log_dir, job + ".log"),
    }


def execute(definition, log_path, kill_grace=DEFAULT_KILL_GRACE):
    """Run the job's command with its output appended to log_path; return the finished run."""
    job = definition["name"]
    timeout = definition.get("timeout") or None
    started_at = utc_now()
    with open(log_path, "ab") as log:
        log.write(("--- %s start %s: %s\n" % (isoformat(started_at), job, " ".join(definition["command"]))).encode())
        log.flush()
        offset = log.tell()
        began = time.monotonic()
        try:
            user = definition.get("user")
            account = pwd.getpwnam(user) if user else None
            env = job_environment(definition, account)
            returncode, timed_out = run_command(
                definition["command"], timeout, log, env=env, account=account, kill_grace=kill_grace
            )
        except (OSError, KeyError) as exc:  # unknown user, command not found: a failed run, not a crash
            log.write(("vitals-cron: cannot start: %s\n" % exc).encode())
            returncode, timed_out = (127 if isinstance(exc, FileNotFoundError) else 126), False
        elapsed = time.monotonic() - began
        status, exit_code = classify(returncode, timed_out)
        if timed_out:
            log.write(("vitals-cron: killed after the %ss timeout\n" % timeout).encode())
        log.flush()
        tail = read_tail(log_path, offset)
        log.write(
            ("--- %s end %s: %s exit=%s %.1fs\n" % (isoformat(utc_now()), job, status, exit_code, elapsed)).encode()
        )
    return {
        "status": status,
        "exit_code": exit_code,
        "started_at": started_at,
        "finished_at": started_at + datetime.timedelta(seconds=elapsed),
        "output_tail": tail,
    }


def run_job(definition, state_dir, lock_dir, log_dir, kill_grace=DEFAULT_KILL_GRACE):
    """Run one job under its lock: returns (skipped, state); a held lock only records the skip."""
    job = definition["name"]
    for directory in (state_dir, lock_dir, log_dir):
        os.makedirs(directory, exist_ok=True)
    paths = job_paths(job, state_dir, lock_dir, log_dir)
    lock = try_lock(paths["lock"])
    if lock is None:
        return True, update_state(paths, job, lambda s: record_skip(s, utc_now()))
    with lock:
        update_state(paths, job, lambda s: record_start(s, os.getpid(), utc_now()))
        run = execute(definition, paths["log"], kill_grace)
        return False, update_state(paths, job, lambda s: record_end(s, **run))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def job_rows(config_dir, state_dir):
    """One summary per configured job (and per state file left without a definition)."""
    names = set()
    for directory in (config_dir, state_dir):
        if os.path.isdir(directory):
            names.update(f[:-5] for f in os.listdir(directory) if f.endswith(".json") and not f.startswith("."))
    rows = []
    for name in sorted(names):
        state = read_state(os.path.join(state_dir, name + ".json"), name)
        last = state.get("last_run") or {}
        running = state.get("running")
        status = "running" if running and pid_alive(running.get("pid", 0)) else last.get("status") or "never"
        rows.append(
            {
                "job": name,
                "status": status,
                "configured": os.path.exists(os.path.join(config_dir, name + ".json")),
                "last_started_at": last.get("started_at"),
                "duration_s": last.get("duration_s"),
                "exit_code": last.get("exit_code"),
                "last_success_at": state.get("last_success_at"),
                "skipped_count": state.get("skipped_count", 0),
            }
        )
    return rows


def format_table(rows):
    headers = ("JOB", "STATUS", "LAST START", "DURATION", "EXIT", "LAST SUCCESS", "SKIPPED")
    lines = [headers]
    for row in rows:
        duration = "-" if row["duration_s"] is None else "%.1fs" % row["duration_s"]
        exit_code = "-" if row["exit_code"] is None else str(row["exit_code"])
        lines.append(
            (
                row["job"] + ("" if row["configured"] else " (removed)"),
                row["status"],
                row["last_started_at"] or "-",
                duration,
                exit_code,
                row["last_success_at"] or "-",
                str(row["skipped_count"]),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def build_parser():
    parser = argparse.ArgumentParser(prog="vitals-cron", description="Tracked cron jobs of vitals.django.")
    parser.add_argument("--config-dir", default=CONFIG_DIR)
    parser.add_argument("--state-dir", default=STATE_DIR)
    parser.add_argument("--lock-dir", default=LOCK_DIR)
    parser.add_argument("--log-dir", default=LOG_DIR)
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="run a configured job under its lock and timeout")
    run.add_argument("job")
    run.add_argument(
        "--kill-grace",
        type=float,
        default=DEFAULT_KILL_GRACE,
        help="seconds between TERM and KILL, unless the job sets kill_grace",
    )
    listing = sub.add_parser("list", help="every job's last run, status and duration")
    listing.add_argument("--json", action="store_true")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.action == "list":
        rows = job_rows(args.config_dir, args.state_dir)
        print(json.dumps(rows, indent=2) if args.json else format_table(rows))
        return 0
    try:
        definition = load_definition(args.config_dir, args.job)
    except (OSError, ValueError) as exc:
        print("vitals-cron: %s" % exc, file=sys.stderr)
        return EXIT_USAGE
    kill_grace = definition.get("kill_grace", args.kill_grace)
    skipped, state = run_job(definition, args.state_dir, args.lock_dir, args.log_dir, kill_grace)
    if skipped:
        return EXIT_SKIPPED
    last_run = state["last_run"]
    report = failure_report(definition["name"], last_run)
    if report is not None:
        sys.stderr.write(report)
        if definition.get("on_failure"):
            problem = run_on_failure(definition["on_failure"], definition["name"], last_run)
            if problem:
                sys.stderr.write("vitals-cron: %s\n" % problem)
    return runner_exit_code(last_run["status"], last_run["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
