# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One function per check type: (options, timeout, deps) -> Outcome.

All I/O goes through `deps` (see deps.py), so unit tests pass fakes. A check returns
`critical` for a failed assertion; the runner maps it to the check's severity.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .envfile import parse_env_file
from .schedule import max_interval

OK, WARNING, CRITICAL, UNKNOWN = "ok", "warning", "critical", "unknown"
BACKUP_STAMP_RE = r"^%s-(\d{8}T\d{6}Z)\.(?!.*\.sha256$)"
MIGRATION_RE = re.compile(r"^\s*(\w+\.\d{4}\w*)\s*$", re.MULTILINE)
DJANGO_ISSUE_RE = re.compile(r"^(?P<obj>.*?): \((?P<id>[\w.]+\.(?P<level>[CEWID])\d+)\) (?P<msg>.*)$")


class ProbeError(Exception):
    """The probe could not talk to the service: the check fails (critical).

    `transient` marks what may recover by itself within the grace window (connection refused, a
    timeout, a server still starting); anything else is definitive and is not retried.
    """

    def __init__(self, message, transient=False):
        super().__init__(message)
        self.transient = transient


class MissingLibrary(Exception):
    """A Python library the check needs is not installed: the check is unknown."""


# Gateway answers of a proxy whose backend is (re)starting: they may recover, others will not.
TRANSIENT_HTTP = (502, 503, 504)


@dataclass
class Outcome:
    status: str
    message: str
    details: dict = field(default_factory=dict)
    transient: bool = False


def parse_time(value):
    """'2026-11-23T19:00:00Z' -> aware datetime; None stays None."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def json_path(document, path):
    """Value at a dotted path ('data.items.0.id'); KeyError when absent."""
    value = document
    for part in path.split("."):
        if isinstance(value, list) and part.lstrip("-").isdigit():
            try:
                value = value[int(part)]
            except IndexError:
                raise KeyError(path) from None
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(path)
    return value


def _same(actual, expected):
    """JSON equality that lets inventory strings match numbers and booleans ('1' == 1)."""
    if actual == expected:
        return True
    return json.dumps(actual) == str(expected) or str(actual) == str(expected)


def check_http(opts, timeout, deps):
    headers = dict(opts["headers"])
    if opts["host"]:
        headers["Host"] = opts["host"]
    resp = deps.http(
        opts["method"],
        opts["url"],
        headers=headers,
        timeout=timeout,
        verify=opts["ca_path"] or opts["validate_certs"],
        allow_redirects=opts["follow_redirects"],
    )
    latency_ms = round(resp.elapsed * 1000, 1)
    details = {"status_code": resp.status, "latency_ms": latency_ms, "url": opts["url"]}
    problems = []
    if resp.status not in opts["status"]:
        problems.append("HTTP %d, expected %s" % (resp.status, " or ".join(map(str, opts["status"]))))
    if opts["body_regex"] and not re.search(opts["body_regex"], resp.text):
        problems.append("body does not match /%s/" % opts["body_regex"])
    if opts["json"]:
        try:
            document = json.loads(resp.text)
        except ValueError:
            problems.append("body is not JSON")
        else:
            for path, expected in opts["json"].items():
                try:
                    actual = json_path(document, path)
                except KeyError:
                    problems.append("JSON field %s is missing" % path)
                    continue
                if not _same(actual, expected):
                    problems.append(
                        "JSON field %s is %s, expected %s" % (path, json.dumps(actual), json.dumps(expected))
                    )
    lower = {k.lower(): v for k, v in resp.headers.items()}
    for name, pattern in opts["expect_headers"].items():
        value = lower.get(name.lower())
        if value is None:
            problems.append("header %s is missing" % name)
        elif not re.search(pattern, value):
            problems.append("header %s is %r, expected /%s/" % (name, value, pattern))
    if opts["max_latency"] and resp.elapsed > opts["max_latency"]:
        problems.append("took %d ms, limit %d ms" % (latency_ms, opts["max_latency"] * 1000))
    if problems:
        transient = resp.status in TRANSIENT_HTTP and resp.status not in opts["status"]
        return Outcome(CRITICAL, "; ".join(problems), details, transient=transient)
    return Outcome(OK, "HTTP %d in %d ms" % (resp.status, latency_ms), details)


def check_tcp(opts, timeout, deps):
    banner = deps.tcp(opts["host"], opts["port"], timeout=timeout, read_banner=bool(opts["banner"]))
    where = "%s:%d" % (opts["host"], opts["port"])
    details = {"address": where}
    if opts["banner"]:
        details["banner"] = banner
        if not re.search(opts["banner"], banner or ""):
            return Outcome(CRITICAL, "%s banner %r does not match /%s/" % (where, banner, opts["banner"]), details)
    return Outcome(OK, "%s accepts connections" % where, details)


def check_postgres(opts, timeout, deps):
    conn = {k: opts[k] for k in ("host", "port", "dbname", "user", "password", "sslmode") if opts[k] is not None}
    value = deps.pg_query(conn, opts["query"], timeout=timeout, write=opts["write"])
    shown = None if value is None else str(value)
    details = {"dbname": opts["dbname"], "value": shown, "write": opts["write"]}
    if opts["expected"] is not None and shown != opts["expected"]:
        return Outcome(CRITICAL, "query returned %r, expected %r" % (shown, opts["expected"]), details)
    return Outcome(OK, "query returned %r%s" % (shown, "; write committed" if opts["write"] else ""), details)


def _free_enough(kind, amount, free, total):
    if kind == "percent":
        return total == 0 or free * 100.0 / total >= amount
    return free >= amount


def _fmt_need(kind, amount, unit):
    return "%g%%" % amount if kind == "percent" else "%d %s" % (amount, unit)


def check_disk(opts, timeout, deps):
    st = deps.statvfs(opts["path"])
    # As df: the root-reserved blocks count neither as free nor as usable, so the share is
    # available / (used + available), and used% + free% = 100 like df's Use% column.
    free_bytes = st.f_bavail * st.f_frsize
    used_bytes = (st.f_blocks - st.f_bfree) * st.f_frsize
    usable = used_bytes + free_bytes
    details = {
        "path": opts["path"],
        "free_bytes": free_bytes,
        "used_bytes": used_bytes,
        "free_percent": round(free_bytes * 100.0 / usable, 2) if usable else None,
        "used_percent": round(used_bytes * 100.0 / usable, 2) if usable else None,
        "free_inodes": st.f_favail,
        "free_inodes_percent": round(st.f_favail * 100.0 / st.f_files, 2) if st.f_files else None,
    }
    critical, warned = [], []
    for key, found in (("min_free", critical), ("warn_free", warned)):
        if opts[key] and not _free_enough(*opts[key], free_bytes, usable):
            found.append(
                "%d bytes free (%s%%), %s %s"
                % (
                    free_bytes,
                    details["free_percent"],
                    "need" if key == "min_free" else "warning below",
                    _fmt_need(*opts[key], unit="bytes"),
                )
            )
    if opts["min_free_inodes"] and not _free_enough(*opts["min_free_inodes"], st.f_favail, st.f_files):
        critical.append(
            "%d inodes free (%s%%), need %s"
            % (st.f_favail, details["free_inodes_percent"], _fmt_need(*opts["min_free_inodes"], unit="inodes"))
        )
    if critical:
        return Outcome(CRITICAL, "%s: %s" % (opts["path"], "; ".join(critical)), details)
    if warned:
        return Outcome(WARNING, "%s: %s" % (opts["path"], "; ".join(warned)), details)
    return Outcome(OK, "%s: %s%% free" % (opts["path"], details["free_percent"]), details)


SAMPLE_INTERVAL = 0.5
SYSTEMD_FIELDS = ("LoadState", "ActiveState", "SubState", "Result", "UnitFileState", "NRestarts", "MainPID")


def _unstable(unit, first, props):
    """What makes a unit unstable in one sample (compared with the first) -> problem or None."""
    if props.get("SubState") == "auto-restart":
        return "%s is in auto-restart (crash loop, NRestarts %s)" % (unit, props.get("NRestarts"))
    if props.get("ActiveState") == "failed":
        return "%s is failed (%s)" % (unit, props.get("Result"))
    if props.get("NRestarts", "0") != first.get("NRestarts", "0"):
        return "%s restarted while observed (NRestarts %s -> %s)" % (
            unit,
            first.get("NRestarts"),
            props.get("NRestarts"),
        )
    if props.get("MainPID", "0") != first.get("MainPID", "0"):
        return "%s main process changed while observed (PID %s -> %s)" % (
            unit,
            first.get("MainPID"),
            props.get("MainPID"),
        )
    return None


def _observe(unit, first, opts, timeout, deps):
    """Samples the unit every SAMPLE_INTERVAL for `observe` seconds -> (last sample, problem or None)."""
    end = deps.monotonic() + opts["observe"]
    props = first
    while deps.monotonic() < end:
        deps.sleep(min(SAMPLE_INTERVAL, max(0.0, end - deps.monotonic())))
        props = deps.systemd_show(unit, timeout=timeout)
        problem = _unstable(unit, first, props)
        if problem:
            return props, problem
    return props, None


def check_systemd(opts, timeout, deps):
    unit = opts["unit"]
    props = deps.systemd_show(unit, timeout=timeout)
    details = {"unit": unit, **{k: props.get(k) for k in SYSTEMD_FIELDS if k != "Result"}}
    problems = []
    if props.get("LoadState") == "not-found":
        return Outcome(CRITICAL, "unit %s not found" % unit, details)
    active = props.get("ActiveState")
    if props.get("Result") == "trigger-limit-hit":
        return Outcome(CRITICAL, "%s hit its trigger limit and stopped listening" % unit, details)
    if props.get("SubState") == "auto-restart" or active == "failed":
        return Outcome(CRITICAL, _unstable(unit, props, props), details)
    if opts["active"] and active in ("activating", "reloading"):
        # Starting for the first time may finish within the window; starting again is a restart.
        first_start = props.get("NRestarts", "0") in ("0", "")
        message = "%s is %s (%s)%s" % (
            unit,
            active,
            props.get("SubState"),
            "" if first_start else ", restarted %s times" % props.get("NRestarts"),
        )
        return Outcome(CRITICAL, message, details, transient=first_start)
    if opts["active"] and active != "active":
        problems.append("%s is %s, expected active" % (unit, active))
    elif opts["active"] is False and active == "active":
        problems.append("%s is active, expected inactive" % unit)
    if opts["enabled"] is not None:
        enabled = props.get("UnitFileState") in ("enabled", "enabled-runtime", "static", "alias", "indirect")
        if enabled != opts["enabled"]:
            problems.append(
                "%s is %s, expected %s"
                % (unit, props.get("UnitFileState"), "enabled" if opts["enabled"] else "disabled")
            )
    if opts["min_uptime"] and active == "active":
        entered = props.get("ActiveEnterTimestamp", "").lstrip("@")
        if entered.isdigit():
            uptime = deps.now().timestamp() - int(entered)
            details["uptime_s"] = round(uptime, 1)
            if uptime < opts["min_uptime"]:
                problems.append("%s (re)started %d s ago, less than %d s" % (unit, uptime, opts["min_uptime"]))
    if not problems and opts["active"] and opts["observe"]:
        last, problem = _observe(unit, props, opts, timeout, deps)
        details.update(
            {"observed_s": opts["observe"], "NRestarts": last.get("NRestarts"), "MainPID": last.get("MainPID")}
        )
        if problem:
            problems.append(problem)
    if problems:
        return Outcome(CRITICAL, "; ".join(problems), details)
    if opts["active"] and opts["observe"]:
        return Outcome(OK, "%s is %s, stable for %g s" % (unit, active, opts["observe"]), details)
    return Outcome(OK, "%s is %s" % (unit, active), details)


# Written as the app user with the unit's umask; prints the mode and group the file got.
MEDIA_WRITE = 'mkdir -- "$1" && printf %s "$2" > "$1/probe.txt" && stat -c "%a %U:%G" -- "$1/probe.txt"'


def check_media(opts, timeout, deps):
    """Write a file the way the app does into a new subdirectory of the media root, fetch it via nginx."""
    name = "vitals-health-%s" % deps.token()
    directory = "%s/%s" % (opts["root"].rstrip("/"), name)
    content = "vitals health probe %s\n" % name
    url = "%s/%s/probe.txt" % (opts["url"].rstrip("/"), name)
    rc, out, err = deps.run(
        ["sh", "-c", MEDIA_WRITE, "sh", directory, content], timeout=timeout, user=opts["user"], umask=opts["umask"]
    )
    details = {"url": url, "file": "%s/probe.txt" % directory}
    if rc != 0:
        return Outcome(CRITICAL, "cannot write %s as %s: %s" % (details["file"], opts["user"], _tail(err, 2)), details)
    details["mode_owner"] = out.strip()
    try:
        headers = {"Host": opts["host"]} if opts["host"] else {}
        resp = deps.http(
            "GET", url, headers=headers, timeout=timeout, verify=opts["validate_certs"], allow_redirects=False
        )
    finally:
        deps.run(["rm", "-rf", "--", directory], timeout=timeout, user=opts["user"])
    details["status_code"] = resp.status
    if resp.status == 200 and resp.text == content:
        return Outcome(
            OK, "a file the app writes (%s) is served under %s" % (details["mode_owner"], opts["url"]), details
        )
    if resp.status == 200:
        return Outcome(CRITICAL, "%s answered another file's content: check the /media/ alias" % url, details)
    why = {403: "nginx cannot read it", 404: "nginx looks elsewhere: check the /media/ alias"}.get(resp.status, "")
    return Outcome(
        CRITICAL,
        "a file the app wrote (%s) is answered HTTP %d%s" % (details["mode_owner"], resp.status, why and ": " + why),
        details,
        transient=resp.status in TRANSIENT_HTTP,
    )


def _age(deps, stamp):
    return (deps.now() - stamp).total_seconds()


# Slack on top of a job's longest gap between runs and its timeout before its last success is late.
JOB_GRACE_S = 600


def _job_window(definition, opts):
    """Seconds a job's last success may be old: `max_age`, else its schedule's longest gap + timeout + grace."""
    if opts["max_age"]:
        return opts["max_age"]
    try:
        gap = max_interval(definition["schedule"])
    except (KeyError, TypeError, ValueError):
        return None
    return gap + float(definition.get("timeout") or 0) + JOB_GRACE_S


def _read_json(deps, path):
    """-> (document or None, problem or None); a missing file is (None, None)."""
    try:
        return json.loads(deps.read_text(path)), None
    except FileNotFoundError:
        return None, None
    except PermissionError:
        return None, "cannot read %s: permission denied" % path
    except ValueError as exc:
        return None, "cannot parse %s: %s" % (path, exc)


def _one_job(job, opts, deps):
    """-> (status, message, details) of one tracked job."""
    definition, problem = _read_json(deps, "%s/%s.json" % (opts["config_dir"].rstrip("/"), job))
    definition = definition or {}
    path = "%s/%s.json" % (opts["state_dir"].rstrip("/"), job)
    state, problem = _read_json(deps, path) if not problem else (None, problem)
    window = _job_window(definition, opts)
    details = {"state": path, "window_s": window}
    if problem:
        return UNKNOWN, problem, details
    if state is None:
        # A job scheduled less than one window ago may not have had its first run yet: nothing is
        # wrong, so a freshly provisioned stack reads ok; once the window has passed it is critical.
        since = deps.mtime("%s/%s.json" % (opts["config_dir"].rstrip("/"), job)) if definition else None
        if since is not None and window and deps.now().timestamp() - since < window:
            return OK, "not due yet (scheduled %d s ago)" % (deps.now().timestamp() - since), details
        return CRITICAL, "never ran (no state file %s)" % path, details
    last_run = state.get("last_run") or {}
    running = state.get("running")
    last_success = parse_time(state.get("last_success_at"))
    details.update(
        {
            "last_success_at": state.get("last_success_at"),
            "last_success_age_s": round(_age(deps, last_success)) if last_success else None,
            "last_status": last_run.get("status"),
            "last_exit_code": last_run.get("exit_code"),
            "running": bool(running),
            "skipped_count": state.get("skipped_count", 0),
        }
    )
    problems = []
    if opts["require_success"] and last_run.get("status") == "timeout":
        problems.append("last run was killed at its timeout")
    elif opts["require_success"] and last_run and last_run.get("status") != "success":
        problems.append("last run %s (exit %s)" % (last_run.get("status"), last_run.get("exit_code")))
    if last_success is None:
        problems.append("never succeeded")
    elif window and _age(deps, last_success) > window:
        problems.append("last success %d s ago, limit %d s" % (_age(deps, last_success), window))
    limit = opts["max_running"] or (float(definition["timeout"]) + JOB_GRACE_S if definition.get("timeout") else None)
    if running and limit:
        started = parse_time(running.get("started_at"))
        if started and _age(deps, started) > limit:
            problems.append("running for %d s, limit %d s" % (_age(deps, started), limit))
    if problems:
        return CRITICAL, "; ".join(problems), details
    return OK, "last success %d s ago" % _age(deps, last_success), details


def check_cron(opts, timeout, deps):
    if opts["job"] != "*":
        jobs = [opts["job"]]
    else:
        try:
            jobs = sorted(n[:-5] for n in deps.listdir(opts["config_dir"]) if n.endswith(".json") and n[0] != ".")
        except FileNotFoundError:
            jobs = []
        if not jobs:
            return Outcome(OK, "no tracked jobs on this host", {"jobs": {}})
    results = {job: _one_job(job, opts, deps) for job in jobs}
    details = {"jobs": {job: dict(res[2], status=res[0]) for job, res in results.items()}}
    if len(jobs) == 1:
        details.update(results[jobs[0]][2])
    worst = max((res[0] for res in results.values()), key=[OK, WARNING, UNKNOWN, CRITICAL].index)
    shown = [job for job, res in results.items() if res[0] == worst] if worst != OK else jobs
    message = "; ".join("job %s: %s" % (job, results[job][1]) for job in shown)
    return Outcome(worst, message, details)


def _backup_job(opts, deps):
    """(definition path, definition or None) of the tracked job that makes the backup."""
    if not opts["job"]:
        return None, None
    path = "%s/%s.json" % (opts["cron_config_dir"].rstrip("/"), opts["job"])
    return path, _read_json(deps, path)[0]


def _no_backup(opts, deps, directory, why):
    """No backup yet: a warning until the job that makes it was first due, critical after."""
    details = {"dir": directory}
    if opts["job"]:
        definition_path, definition = _backup_job(opts, deps)
        if definition:
            due = deps.mtime(definition_path) + _job_window(definition, {"max_age": None})
            details["first_due_at"] = datetime.fromtimestamp(due, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if deps.now().timestamp() < due:
                return Outcome(WARNING, "%s yet; the first is due by %s" % (why, details["first_due_at"]), details)
            return Outcome(CRITICAL, "%s; the first was due by %s" % (why, details["first_due_at"]), details)
    return Outcome(CRITICAL, why, details)


def _backup_record(opts, deps, directory, pattern):
    """The newest backup -> dict(name, finished_at, size, sha256, restore_test), from the job's record
    (<dir>/state/<kind>.json) or, without one, from the newest file and its modification time."""
    record, problem = _read_json(deps, "%s/state/%s.json" % (directory, opts["prefix"]))
    if problem:
        raise ProbeError(problem)
    if record and record.get("backup") and parse_time(record.get("finished_at")):
        return {
            "name": record["backup"],
            "finished_at": parse_time(record["finished_at"]),
            "size": record.get("size_bytes"),
            "sha256": record.get("sha256"),
            "restore_test": record.get("restore_test"),
            "source": "record",
        }
    names = sorted(n for n in deps.listdir(directory) if pattern.match(n))
    if not names:
        return None
    newest = "%s/%s" % (directory, names[-1])
    return {
        "name": names[-1],
        "finished_at": datetime.fromtimestamp(deps.mtime(newest), UTC),
        "size": deps.file_size(newest),
        "sha256": None,
        "restore_test": None,
        "source": "file time",
    }


def check_backup(opts, timeout, deps):
    directory = opts["dir"].rstrip("/")
    pattern = re.compile(BACKUP_STAMP_RE % re.escape(opts["prefix"]))
    try:
        newest = _backup_record(opts, deps, directory, pattern)
    except FileNotFoundError:
        return _no_backup(opts, deps, directory, "backup directory %s does not exist" % directory)
    except PermissionError:
        return Outcome(UNKNOWN, "cannot read %s: permission denied" % directory, {"dir": directory})
    except ProbeError as exc:
        # An unreadable or broken record: the backup's state cannot be told (the monitor's group).
        return Outcome(UNKNOWN, str(exc), {"dir": directory})
    if newest is None:
        return _no_backup(opts, deps, directory, "no %s-* backup in %s" % (opts["prefix"], directory))
    name = newest["name"]
    size = newest["size"] if newest["size"] is not None else deps.file_size("%s/%s" % (directory, name))
    age = _age(deps, newest["finished_at"])
    details = {"dir": directory, "newest": name, "age_s": round(age), "size_bytes": size, "age_from": newest["source"]}
    # The job's schedule sets the limit unless max_age does.
    limit = opts["max_age"] or _job_window(_backup_job(opts, deps)[1] or {}, {"max_age": None})
    details["max_age_s"] = limit
    problems = []
    if limit is None:
        problems.append("the job %s that makes it is not defined on this host" % opts["job"])
    elif age > limit:
        problems.append("newest backup %s is %d s old, limit %d s" % (name, age, limit))
    if size < opts["min_size"]:
        problems.append("%s has %d bytes, minimum %d" % (name, size, opts["min_size"]))
    if opts["verify_checksum"]:
        problems.extend(_verify_checksum(deps, directory, name, details, recorded=newest["sha256"]))
    if opts["restore_test"]:
        problems.extend(_restore_test(deps, directory, name, opts, details, recorded=newest["restore_test"]))
    if problems:
        return Outcome(CRITICAL, "; ".join(problems), details)
    return Outcome(OK, "%s: %d s old, %d bytes" % (name, age, size), details)


def _verify_checksum(deps, directory, newest, details, *, recorded=None):
    if recorded:
        line = [recorded]
    else:
        try:
            line = deps.read_text("%s/%s.sha256" % (directory, newest)).split()
        except FileNotFoundError:
            return ["%s.sha256 is missing" % newest]
    actual = deps.sha256("%s/%s" % (directory, newest))
    details["checksum_ok"] = bool(line) and line[0].lower() == actual
    return [] if details["checksum_ok"] else ["checksum of %s does not match %s.sha256" % (newest, newest)]


def _restore_test(deps, directory, newest, opts, details, *, recorded=None):
    if isinstance(recorded, dict):
        report = recorded
    elif isinstance(recorded, str):
        report = {"backup": newest, "status": recorded}
    else:
        try:
            report = json.loads(deps.read_text("%s/restore-test.json" % directory))
        except FileNotFoundError:
            return ["no restore test yet (restore-test.json missing)"]
        except ValueError:
            return ["restore-test.json is not valid JSON"]
    details["restore_test"] = {k: report.get(k) for k in ("backup", "status", "tested_at")}
    if report.get("status") != "passed":
        return [
            "last restore test of %s %s: %s" % (report.get("backup"), report.get("status"), report.get("message", ""))
        ]
    tested_at = parse_time(report.get("tested_at"))
    if opts["restore_test_max_age"] and (tested_at is None or _age(deps, tested_at) > opts["restore_test_max_age"]):
        return ["last restore test is older than %d s" % opts["restore_test_max_age"]]
    return []


def _tail(text, lines=10):
    return "\n".join((text or "").strip().splitlines()[-lines:])


def check_command(opts, timeout, deps):
    rc, out, err = deps.run(opts["argv"], timeout=timeout, cwd=opts["chdir"])
    details = {"rc": rc, "stdout_tail": _tail(out), "stderr_tail": _tail(err)}
    problems = []
    if rc != opts["rc"]:
        problems.append("exit code %d, expected %d" % (rc, opts["rc"]))
    if opts["stdout_regex"] and not re.search(opts["stdout_regex"], out, re.MULTILINE):
        problems.append("output does not match /%s/" % opts["stdout_regex"])
    if problems:
        return Outcome(CRITICAL, "%s: %s" % (opts["argv"][0], "; ".join(problems)), details)
    return Outcome(OK, "%s exited %d" % (opts["argv"][0], rc), details)


def parse_django_check(output):
    """`manage.py check` output -> list of (level, id, text); level C/E/W/I/D."""
    issues = []
    for line in output.splitlines():
        match = DJANGO_ISSUE_RE.match(line.strip())
        if match:
            issues.append((match.group("level"), match.group("id"), match.group("msg")))
    return issues


def _redact(text, secrets):
    for secret in secrets:
        text = text.replace(secret, "********")
    return text


def check_django(opts, timeout, deps):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    if opts["env_file"]:
        env.update(parse_env_file(deps.read_text(opts["env_file"])))
    if opts["settings"]:
        env["DJANGO_SETTINGS_MODULE"] = opts["settings"]
    # Output could echo a setting; never let an env value (secrets live there) reach the report.
    secrets = {v for k, v in env.items() if len(v) >= 6 and k not in ("PATH", "LANG", "DJANGO_SETTINGS_MODULE")}
    manage = [opts["python"], "manage.py"]
    run = {"timeout": timeout, "cwd": opts["release"], "env": env, "user": opts["user"]}
    details, worst, messages = {"release": opts["release"]}, OK, []
    if opts["deploy"]:
        rc, out, err = deps.run([*manage, "check", "--deploy", "--fail-level", "CRITICAL"], **run)
        issues = parse_django_check(_redact(out + "\n" + err, secrets))
        errors = [i for i in issues if i[0] in "CE"]
        warnings = [i for i in issues if i[0] == "W"]
        details["deploy_check"] = {"errors": [i[1] for i in errors], "warnings": [i[1] for i in warnings]}
        if rc != 0 or errors:
            worst = CRITICAL
            messages.append(
                "check --deploy: %s"
                % ("; ".join("%s %s" % (i[1], i[2]) for i in errors) or _tail(_redact(err, secrets), 3))
            )
        elif warnings:
            worst = WARNING
            messages.append("check --deploy warnings: %s" % ", ".join(i[1] for i in warnings))
    if opts["migrations"]:
        rc, out, err = deps.run([*manage, "migrate", "--check", "--plan"], **run)
        pending = [m.group(1) for m in MIGRATION_RE.finditer(out)] if rc != 0 else []
        details["pending_migrations"] = pending
        if pending:
            worst = CRITICAL
            more = " and %d more" % (len(pending) - 5) if len(pending) > 5 else ""
            messages.append("%d pending migrations: %s%s" % (len(pending), ", ".join(pending[:5]), more))
        elif rc != 0:
            worst = CRITICAL
            messages.append("migrate --check failed: %s" % _tail(_redact(err or out, secrets), 3))
    return Outcome(worst, "; ".join(messages) or "system checks pass, no pending migrations", details)


def check_tls(opts, timeout, deps):
    not_after = deps.tls_not_after(
        opts["host"],
        opts["port"],
        server_name=opts["server_name"] or opts["host"],
        timeout=timeout,
        verify=opts["validate_certs"],
        ca_path=opts["ca_path"],
    )
    days = (not_after - deps.now()).total_seconds() / 86400
    details = {"not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"), "days_left": round(days, 1)}
    if days < opts["min_days"]:
        return Outcome(CRITICAL, "certificate expires in %.1f days, minimum %d" % (days, opts["min_days"]), details)
    if days < opts["warn_days"]:
        return Outcome(
            WARNING, "certificate expires in %.1f days, renew before %d" % (days, opts["warn_days"]), details
        )
    return Outcome(OK, "certificate valid for %.0f more days" % days, details)


def check_smtp(opts, timeout, deps):
    banner, ehlo = deps.smtp(
        opts["host"], opts["port"], timeout=timeout, ehlo_name=opts["ehlo_name"], ehlo=opts["ehlo"]
    )
    details = {"banner": banner, "ehlo": ehlo}
    problems = []
    if not re.search(opts["banner"], banner):
        problems.append("banner %r does not match /%s/" % (banner, opts["banner"]))
    if opts["ehlo"] and not (ehlo or "").startswith("250"):
        problems.append("EHLO answered %r" % ehlo)
    if problems:
        return Outcome(CRITICAL, "; ".join(problems), details)
    return Outcome(OK, "SMTP %s:%d answers" % (opts["host"], opts["port"]), details)


CHECKS = {
    "http": check_http,
    "tcp": check_tcp,
    "postgres": check_postgres,
    "disk": check_disk,
    "systemd": check_systemd,
    "cron": check_cron,
    "backup": check_backup,
    "command": check_command,
    "django": check_django,
    "tls": check_tls,
    "smtp": check_smtp,
    "media": check_media,
}
