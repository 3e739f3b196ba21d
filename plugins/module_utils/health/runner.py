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


def attempt(check, deps):
    """One attempt of one check -> Outcome; exceptions become statuses, never escape."""
    try:
        outcome = CHECKS[check.type](check.options, check.timeout, deps)
    except MissingLibrary as exc:
        return Outcome(UNKNOWN, str(exc))
    except ProbeError as exc:
        outcome = Outcome(CRITICAL, str(exc))
    except (OSError, TimeoutError) as exc:
        outcome = Outcome(CRITICAL, "%s: %s" % (type(exc).__name__, exc))
    # A bug in one check must not hide the other results.
    except Exception as exc:  # pylint: disable=broad-except
        return Outcome(UNKNOWN, "check raised %s: %s" % (type(exc).__name__, exc))
    if outcome.status == CRITICAL and check.severity == WARNING:
        outcome.status = WARNING
    return outcome


def run_one(check, deps, deadline, delay):
    """Attempts until ok or until another attempt could not start within the grace window."""
    started = deps.monotonic()
    attempts = 0
    while True:
        attempts += 1
        outcome = attempt(check, deps)
        if outcome.status == OK or deps.monotonic() + delay >= deadline:
            break
        deps.sleep(delay)
    return {
        "name": check.name,
        "type": check.type,
        "severity": check.severity,
        "status": outcome.status,
        "message": outcome.message,
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
