"""Output formats, the vitals-health command and its HTTP endpoint logic."""

import io
import json
import threading
import urllib.error
import urllib.request

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health import cli
from ansible_collections.vitals.django.plugins.module_utils.health.deps import HttpResponse
from ansible_collections.vitals.django.plugins.module_utils.health.output import (
    format_human,
    format_nagios,
    format_prometheus,
)
from ansible_collections.vitals.django.plugins.module_utils.health.runner import summarize

CONFIG = """
within: 0
checks:
  - name: web
    http: {url: "http://127.0.0.1/", host: www.example.com}
  - name: db
    severity: warning
    postgres: {password: pg-secret-pw, expected: "1"}
"""


def report_of(*statuses):
    results = [
        {
            "name": "c%d" % i,
            "type": "tcp",
            "status": s,
            "message": "m%d" % i,
            "duration_ms": 12.0,
            "attempts": 1,
            "details": {},
        }
        for i, s in enumerate(statuses)
    ]
    return summarize(results)


def test_nagios_line_with_perfdata():
    line = format_nagios(report_of("ok", "critical"))
    assert line == (
        "HEALTH CRITICAL - 1 of 2 health checks failed: c1 (tcp, critical): m1 | "
        "ok=1;;;0;2 warning=0;;;0;2 critical=1;;;0;2 unknown=0;;;0;2 'c0_time'=0.012s 'c1_time'=0.012s\n"
    )
    assert format_nagios(report_of("ok")).startswith("HEALTH OK - All 1 health checks passed | ")


def test_prometheus_text():
    text = format_prometheus(report_of("ok", "warning"))
    assert "vitals_health_status 1\n" in text
    assert 'vitals_health_check_status{check="c1",type="tcp"} 1\n' in text
    assert 'vitals_health_check_up{check="c0",type="tcp"} 1\n' in text
    assert 'vitals_health_check_duration_seconds{check="c0",type="tcp"} 0.012\n' in text
    assert 'vitals_health_checks{status="warning"} 1\n' in text


def test_human_lists_every_check():
    text = format_human(report_of("ok", "critical"))
    assert text.splitlines()[0].split()[:3] == ["OK", "c0", "tcp"]
    assert text.splitlines()[1].startswith("CRITICAL c1")
    assert text.splitlines()[-1].startswith("1 of 2 health checks failed")


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "health.yml"
    path.write_text(CONFIG)
    return str(path)


@pytest.mark.parametrize("fmt", ["human", "json", "nagios", "prometheus"])
def test_main_formats_exit_codes_and_no_secret(deps, config_file, fmt):
    deps.pg_value = 2
    out = io.StringIO()
    code = cli.main(["--config", config_file, "--format", fmt], deps=deps, out=out)
    assert code == 1  # db is a failing warning
    assert "pg-secret-pw" not in out.getvalue()
    if fmt == "json":
        report = json.loads(out.getvalue())
        assert [c["status"] for c in report["checks"]] == ["ok", "warning"]
    assert deps.calls[0][3]["headers"] == {"Host": "www.example.com"}


def test_main_only_and_critical(deps, config_file):
    deps.http_response = HttpResponse(500, {}, "", 0.01)
    out = io.StringIO()
    assert cli.main(["--config", config_file, "--only", "web", "--format", "nagios"], deps=deps, out=out) == 2
    assert out.getvalue().startswith("HEALTH CRITICAL - 1 of 1 health checks failed: web (http, critical): HTTP 500")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("checks: [{name: x, ping: {}}]", "check 'x': unknown option or check type ping"),
        ("checks: [{name: x, tcp: {host: h, port: 99999}}]", "option 'port' must be a port"),
        ("{checks: [", "cannot parse YAML"),
        ("retries: 3\nchecks: []", "unknown keys retries"),
        ("42", "must be a mapping"),
    ],
)
def test_bad_config_exits_unknown(tmp_path, content, message):
    path = tmp_path / "bad.yml"
    path.write_text(content)
    out = io.StringIO()
    assert cli.main(["--config", str(path)], out=out) == 3
    assert out.getvalue().startswith("HEALTH UNKNOWN - bad configuration: %s" % path)
    assert message in out.getvalue()


def test_check_config_validates_without_running(deps, config_file):
    out = io.StringIO()
    assert cli.main(["--config", config_file, "--check-config"], deps=deps, out=out) == 0
    assert out.getvalue() == "configuration OK: 2 checks\n"
    assert deps.calls == []


def test_missing_config_exits_unknown(tmp_path):
    out = io.StringIO()
    assert cli.main(["--config", str(tmp_path / "none.yml")], out=out) == 3
    assert "No such file or directory" in out.getvalue()


def test_cache_runs_checks_once_per_ttl(deps, config_file):
    now = [100.0]
    cache = cli.CachedReport(cli.load_config(config_file), deps, ttl=10, clock=lambda: now[0])
    first = cache.get()
    now[0] += 9
    assert cache.get() is first
    assert len([c for c in deps.calls if c[0] == "http"]) == 1
    now[0] += 1
    assert cache.get() is not first
    assert len([c for c in deps.calls if c[0] == "http"]) == 2


def test_respond_routes(deps, config_file):
    cache = cli.CachedReport(cli.load_config(config_file), deps, ttl=10)
    code, ctype, body = cli.respond("/", cache)
    assert (code, ctype) == (200, "application/json")
    assert json.loads(body)["status"] == "ok"
    assert cli.respond("/metrics", cache)[0:2] == (200, "text/plain; version=0.0.4; charset=utf-8")
    assert cli.respond("/nope", cache)[0] == 404
    deps.http_response = HttpResponse(500, {}, "", 0.01)
    assert cli.respond("/health?x=1", cli.CachedReport(cache.config, deps, ttl=10))[0] == 503


def test_listening_socket_without_activation_binds_loopback():
    sock = cli.listening_socket("127.0.0.1:0", environ={})
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()


def test_endpoint_serves_json_and_metrics_over_http(deps, config_file, monkeypatch):
    sock = cli.listening_socket("127.0.0.1:0", environ={})
    base = "http://127.0.0.1:%d" % sock.getsockname()[1]
    monkeypatch.setattr(cli, "listening_socket", lambda listen: sock)
    # A daemon thread: the server ends with the test process.
    threading.Thread(target=cli.serve, args=(cli.load_config(config_file), deps, None, 10), daemon=True).start()
    with urllib.request.urlopen(base + "/", timeout=5) as resp:
        assert resp.status == 200
        assert json.load(resp)["summary"]["total"] == 2
    with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
        assert b"vitals_health_status 0" in resp.read()
    deps.http_response = HttpResponse(500, {}, "", 0.01)
    with urllib.request.urlopen(base + "/", timeout=5) as resp:
        assert resp.status == 200  # cached for 10 s: a scraper cannot overload the checked services
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(base + "/missing", timeout=5)
    assert info.value.code == 404
