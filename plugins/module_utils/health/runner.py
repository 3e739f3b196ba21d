# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run validated checks concurrently, retry failing ones within a grace window, aggregate."""

from concurrent.futures import ThreadPoolExecutor

from .checks import CHECKS, CRITICAL, OK, UNKNOWN, WARNING, MissingLibrary, Outcome, ProbeError

# Nagios plugin exit codes.
CODES = {OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3}
# Worst-of order for the overall status: an unverifiable check is worse than a warning.
RANK = {OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3}
REDACTED = "********"
# Version of the report's shape (docs/health-report.md): the module, the CLI and the endpoint all return it.
SCHEMA_VERSION = 1


# A definitive failure is tried once more after this many seconds before it is reported: a
# blip (one request hitting a worker as it recycles) must not fail a deploy.
CONFIRM_DELAY = 0.5
# Why a check stopped (the report's `stopped`).
PASSED, WARNED, DEFINITIVE, UNIT_DOWN, WINDOW_EXPIRED, UNVERIFIABLE = (
    "passed",
    "warning",
    "definitive",
    "unit-down",
    "window-expired",
    "unknown",
)


def attempt(check, deps):
    """One attempt of one check -> Outcome; exceptions become statuses, never escape."""
    try:
        outcome = CHECKS[check.type](check.options, check.timeout, deps)
    except MissingLibrary as exc:
        return Outcome(UNKNOWN, str(exc))
    except ProbeError as exc:
        outcome = Outcome(CRITICAL, str(exc), transient=exc.transient)
    except (OSError, TimeoutError) as exc:
        outcome = Outcome(CRITICAL, "%s: %s" % (type(exc).__name__, exc))
    # A bug in one check must not hide the other results.
    except Exception as exc:  # pylint: disable=broad-except
        return Outcome(UNKNOWN, "check raised %s: %s" % (type(exc).__name__, exc))
    if outcome.status == CRITICAL and check.severity == WARNING:
        outcome.status = WARNING
    return outcome


def unit_down(check, deps):
    """The first unit behind the check that is definitively down -> reason, else None."""
    for unit in check.units:
        try:
            props = deps.systemd_show(unit, timeout=min(check.timeout, 5.0))
        except (ProbeError, OSError):
            continue
        active, sub = props.get("ActiveState"), props.get("SubState")
        if active in ("failed", "inactive") or sub == "auto-restart":
            return "%s is %s (%s)" % (unit, active, sub)
    return None


def next_step(check, outcome, deps, *, confirmed, deadline, delay):
    """After one attempt: the reason to stop, or None to try again."""
    if outcome.status == OK:
        return PASSED
    if outcome.status == WARNING:
        return WARNED
    if outcome.status == UNKNOWN:
        return UNVERIFIABLE
    if not outcome.transient:
        return DEFINITIVE if confirmed else None
    down = unit_down(check, deps)
    if down:
        outcome.message += "; %s" % down
        return UNIT_DOWN
    return WINDOW_EXPIRED if deps.monotonic() + delay >= deadline else None


def run_one(check, deps, deadline, delay):
    """Attempts until the outcome is final (see next_step); transient ones within the grace window."""
    started = deps.monotonic()
    attempts, confirmed = 0, False
    while True:
        attempts += 1
        outcome = attempt(check, deps)
        stopped = next_step(check, outcome, deps, confirmed=confirmed, deadline=deadline, delay=delay)
        if stopped:
            break
        if outcome.transient:
            deps.sleep(delay)
        else:
            confirmed = True
            deps.sleep(CONFIRM_DELAY)
    return {
        "name": check.name,
        "type": check.type,
        "severity": check.severity,
        "status": outcome.status,
        "message": outcome.message,
        "stopped": stopped,
        "duration_ms": round((deps.monotonic() - started) * 1000, 1),
        "attempts": attempts,
        "details": outcome.details,
    }


def redact(value, secrets):
    """Replace every secret inside strings of a nested structure."""
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value


def summarize(results, fail_on_unknown=True):
    """Results -> report: summary counts, overall status, failed flag and a message naming each problem."""
    summary = {status: 0 for status in CODES}
    for result in results:
        summary[result["status"]] += 1
    summary["total"] = len(results)
    status = max((r["status"] for r in results), key=RANK.get, default=OK)
    blocking = {CRITICAL, UNKNOWN} if fail_on_unknown else {CRITICAL}
    failed = [r for r in results if r["status"] in blocking]
    warned = [r for r in results if r["status"] == WARNING or (r["status"] == UNKNOWN and not fail_on_unknown)]

    def describe(items):
        return "; ".join("%s (%s, %s): %s" % (r["name"], r["type"], r["status"], r["message"]) for r in items)

    if failed:
        msg = "%d of %d health checks failed: %s" % (len(failed), len(results), describe(failed))
    else:
        msg = "All %d health checks passed" % len(results)
    if warned:
        msg += ". Warnings: %s" % describe(warned)
    return {
        "schema_version": SCHEMA_VERSION,
        "status": status,
        "code": CODES[status],
        "failed": bool(failed),
        "summary": summary,
        "checks": results,
        "msg": msg,
    }


def run_checks(config, deps):
    """Config (schema.validate_config) -> report (see summarize); secrets redacted."""
    deadline = deps.monotonic() + config.within
    workers = max(1, min(config.concurrency, len(config.checks)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda c: run_one(c, deps, deadline, config.delay), config.checks))
    return redact(summarize(results, config.fail_on_unknown), config.secrets)
