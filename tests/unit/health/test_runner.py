"""Retries, grace window, concurrency, aggregation and secrets in the runner."""

import json
import threading
import time

from ansible_collections.vitals.django.plugins.module_utils.health.checks import MissingLibrary, ProbeError
from ansible_collections.vitals.django.plugins.module_utils.health.deps import HttpResponse
from ansible_collections.vitals.django.plugins.module_utils.health.runner import run_checks, summarize
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config


def http_check(name="web", **item):
    return {"name": name, "http": {"url": "http://a/"}, **item}


class Flaky:
    """An http() that fails `failures` times, then answers 200; the fake clock advances 0.5 s per call."""

    def __init__(self, deps, failures):
        self.deps, self.failures, self.calls = deps, failures, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.deps.clock += 0.5
        if self.calls <= self.failures:
            raise ProbeError("connection refused", transient=True)
        return HttpResponse(200, {}, "", 0.01)


def test_failing_check_is_retried_until_it_passes_within_the_window(deps):
    deps.http = Flaky(deps, failures=3)
    report = run_checks(validate_config([http_check()], within=30, delay=2), deps)
    result = report["checks"][0]
    assert (result["status"], result["attempts"]) == ("ok", 4)
    assert not report["failed"]


def test_retries_stop_when_the_window_ends(deps):
    deps.http = Flaky(deps, failures=100)
    report = run_checks(validate_config([http_check()], within=10, delay=2), deps)
    result = report["checks"][0]
    # Attempts at t=0, 2.5, 5, 7.5; the next could not start before 10 s.
    assert (result["status"], result["attempts"]) == ("critical", 4)
    assert result["duration_ms"] == 8000.0
    assert report["failed"]


def test_without_window_each_check_runs_once(deps):
    deps.http = Flaky(deps, failures=1)
    report = run_checks(validate_config([http_check()]), deps)
    assert report["checks"][0]["attempts"] == 1
    assert report["status"] == "critical"


class SlowDeps:
    """Real time: every HTTP answer takes one second."""

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    def __init__(self):
        self.peak = self.active = 0
        self.lock = threading.Lock()

    def http(self, *args, **kwargs):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(1)
        with self.lock:
            self.active -= 1
        return HttpResponse(200, {}, "", 1.0)


def test_twenty_one_second_checks_finish_in_under_two_seconds():
    deps = SlowDeps()
    config = validate_config([http_check("c%d" % i) for i in range(20)], concurrency=20)
    started = time.monotonic()
    report = run_checks(config, deps)
    elapsed = time.monotonic() - started
    assert report["summary"]["ok"] == 20
    assert elapsed < 2, elapsed
    assert deps.peak == 20


def test_concurrency_bounds_parallel_checks():
    deps = SlowDeps()
    started = time.monotonic()
    run_checks(validate_config([http_check("c%d" % i) for i in range(4)], concurrency=2), deps)
    assert deps.peak == 2
    assert 2 <= time.monotonic() - started < 3


def test_results_keep_order_and_shape(deps):
    config = validate_config([http_check("b"), {"name": "a", "tcp": {"host": "h", "port": 1}}])
    report = run_checks(config, deps)
    assert [r["name"] for r in report["checks"]] == ["b", "a"]
    assert set(report["checks"][0]) == {
        "name",
        "type",
        "severity",
        "status",
        "message",
        "duration_ms",
        "attempts",
        "stopped",
        "details",
    }
    assert report["status"] == "ok"
    assert report["code"] == 0
    assert report["msg"] == "All 2 health checks passed"


def test_severity_warning_passes_and_is_shown(deps):
    deps.http_response = HttpResponse(503, {}, "", 0.01)
    report = run_checks(
        validate_config([http_check(severity="warning"), {"name": "t", "tcp": {"host": "h", "port": 1}}]), deps
    )
    assert report["checks"][0]["status"] == "warning"
    assert not report["failed"]
    assert report["status"] == "warning"
    assert report["code"] == 1
    assert report["msg"] == "All 2 health checks passed. Warnings: web (http, warning): HTTP 503, expected 200"


def test_unknown_on_missing_library_or_check_bug(deps):
    def missing(*args, **kwargs):
        raise MissingLibrary("install python3-psycopg2")

    def bug(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    deps.pg_query = missing
    deps.tcp = bug
    checks = [{"name": "db", "postgres": {}}, {"name": "t", "tcp": {"host": "h", "port": 1}}]
    report = run_checks(validate_config(checks), deps)
    assert [(r["status"], r["message"]) for r in report["checks"]] == [
        ("unknown", "install python3-psycopg2"),
        ("unknown", "check raised ZeroDivisionError: division by zero"),
    ]
    assert report["failed"]
    assert report["code"] == 3
    lenient = run_checks(validate_config(checks, fail_on_unknown=False), deps)
    assert not lenient["failed"]
    assert "Warnings: db (postgres, unknown)" in lenient["msg"]


def test_os_errors_are_critical(deps):
    def missing(path):
        raise FileNotFoundError(2, "No such file or directory")

    deps.statvfs = missing
    report = run_checks(validate_config([{"name": "d", "disk": {"path": "/nope", "min_free": "1%"}}]), deps)
    assert report["checks"][0]["status"] == "critical"
    assert "No such file or directory" in report["checks"][0]["message"]


def result(name, status):
    return {"name": name, "type": "tcp", "status": status, "message": "m-" + name}


def test_summary_and_overall_status():
    report = summarize(
        [
            result("a", "ok"),
            result("b", "warning"),
            result("c", "critical"),
            result("d", "unknown"),
            result("e", "critical"),
        ]
    )
    assert report["summary"] == {"ok": 1, "warning": 1, "critical": 2, "unknown": 1, "total": 5}
    assert report["status"] == "critical"
    assert report["code"] == 2
    assert report["msg"] == (
        "3 of 5 health checks failed: c (tcp, critical): m-c; d (tcp, unknown): m-d; e (tcp, critical): m-e."
        " Warnings: b (tcp, warning): m-b"
    )
    assert summarize([result("a", "ok"), result("b", "unknown"), result("c", "warning")])["status"] == "unknown"


def test_no_secret_in_any_output(deps):
    def leaky_pg(conn, query, timeout, write=False):
        raise ProbeError("password authentication failed for password %s" % conn["password"])

    def leaky_http(method, url, **kwargs):
        return HttpResponse(401, {}, kwargs["headers"]["Authorization"], 0.01)

    deps.pg_query = leaky_pg
    deps.http = leaky_http
    checks = [
        {"name": "db", "postgres": {"password": "pg-Secret-1"}},
        {
            "name": "api",
            "http": {
                "url": "http://user:url-Secret-2@a/",
                "headers": {"Authorization": "Bearer Secret-3"},
                "body_regex": "Secret",
            },
        },
    ]
    report = run_checks(validate_config(checks), deps)
    text = json.dumps(report)
    for secret in ("pg-Secret-1", "url-Secret-2", "Bearer Secret-3"):
        assert secret not in text
    assert "********" in report["checks"][0]["message"]
    assert "********" in report["checks"][1]["details"]["url"]
