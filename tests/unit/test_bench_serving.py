"""bench/serving.py: wrk output, memory by systemd unit, run order and ratios."""

import importlib.util
import pathlib
import sys

import pytest

_BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(_BENCH))
_SPEC = importlib.util.spec_from_file_location("serving", _BENCH / "serving.py")
serving = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(serving)

WRK = """\
Running 10s test @ https://127.0.0.1:443/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.50ms    2.00ms  40.10ms   89.23%
    Req/Sec   320.16    29.55   400.00     60.00%
  Latency Distribution
     50%   11.31ms
     75%  812.00us
     90%    1.20s
     99%   14.62ms
  6400 requests in 10.01s, 1.50MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    639.36
Transfer/sec:    153.40KB
"""


def test_parse_wrk():
    result = serving.parse_wrk(WRK)
    assert result["requests"] == 6400
    assert result["duration_s"] == 10.01
    assert result["rps"] == 639.36
    assert result["bytes_read"] == int(1.5 * 1024**2)
    assert result["latency_ms"] == {"p50": 11.31, "p75": 0.812, "p90": 1200.0, "p99": 14.62}
    assert result["socket_errors"] == 3
    assert result["non_2xx_3xx"] == 4


def test_parse_wrk_clean_run_has_no_errors():
    clean = "\n".join(line for line in WRK.splitlines() if "errors" not in line and "Non-2xx" not in line)
    result = serving.parse_wrk(clean)
    assert result["socket_errors"] == 0
    assert result["non_2xx_3xx"] == 0


def test_parse_wrk_rejects_other_output():
    with pytest.raises(ValueError, match="no request count"):
        serving.parse_wrk("unable to connect to 127.0.0.1:443 Connection refused")


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("0::/system.slice/nginx.service\n", "nginx.service"),
        ("0::/system.slice/system-postgresql.slice/postgresql@17-main.service\n", "postgresql@17-main.service"),
        ("12:memory:/x\n1:name=systemd:/system.slice/demo.service\n", "demo.service"),
        ("0::/user.slice/user-0.slice/session-3.scope\n", "session-3.scope"),
        ("0::/init.scope\n", "init.scope"),
        ("0::/\n", ""),
    ],
)
def test_systemd_unit(text, unit):
    assert serving.systemd_unit(text) == unit


@pytest.mark.parametrize(
    ("unit", "part"),
    [
        ("postgresql@17-main.service", "postgres"),
        ("demo.service", "gunicorn"),
        ("nginx.service", "nginx"),
        ("vitals-health.service", "vitals-health"),
        ("vitals-bench-gunicorn.service", None),
        ("ssh.service", None),
        ("demo.socket", None),
    ],
)
def test_stack_part(unit, part):
    assert serving.stack_part(unit, "demo") == part


def proc(unit, rss, pss):
    smaps = "00400000-7ffd [rollup]\nRss:          %8d kB\nPss:          %8d kB\nPss_Anon:  1 kB\n" % (rss, pss)
    return {"pid": 1, "comm": "x", "cgroup": "0::/system.slice/%s\n" % unit, "smaps": smaps}


def test_memory_summary_sums_per_part_and_skips_kernel_threads():
    rows = [
        proc("postgresql@17-main.service", 20480, 10240),
        proc("postgresql@17-main.service", 10240, 5120),
        proc("demo.service", 51200, 40960),
        proc("nginx.service", 8192, 4096),
        proc("ssh.service", 4096, 2048),
        proc("vitals-bench-gunicorn.service", 51200, 40960),
        proc("session-4.scope", 4096, 2048),
        {"pid": 2, "comm": "kthreadd", "cgroup": "0::/\n", "smaps": ""},
    ]
    summary = serving.memory_summary(rows, "demo")
    assert summary["parts"]["postgres"] == {"processes": 2, "rss_mib": 30.0, "pss_mib": 15.0}
    assert summary["parts"]["gunicorn"]["rss_mib"] == 50.0
    assert summary["parts"]["vitals-health"]["processes"] == 0
    assert summary["stack"] == {"processes": 4, "rss_mib": 88.0, "pss_mib": 59.0}
    assert summary["host"]["processes"] == 5


def test_check_clean_stops_on_error_pages_only():
    serving.check_clean("x", {"non_2xx_3xx": 0, "socket_errors": 8})
    with pytest.raises(SystemExit, match="x: 2 error responses"):
        serving.check_clean("x", {"non_2xx_3xx": 2, "socket_errors": 0})


def test_abba_alternates_the_order():
    assert serving.abba(("a", "b"), 3) == ["a", "b", "b", "a", "a", "b"]


def test_compare_means_and_ratio():
    samples = {
        "n": [{"rps": 90.0, "socket_errors": 0}, {"rps": 110.0, "socket_errors": 0}],
        "g": [{"rps": 100.0, "socket_errors": 3}, {"rps": 100.0, "socket_errors": 5}],
    }
    result = serving.compare(samples, "n", "g")
    assert result["n_rps"] == 100.0
    assert result["ratio"] == 1.0
    assert result["socket_errors"] == {"n": 0, "g": 8}
    assert result["samples"] == samples


def test_targets_follow_tls_and_send_what_nginx_adds():
    sides = serving.targets({"tls": True, "server_name": "sandbox.test", "app_name": "demo"})
    assert sides["nginx_page"] == ("https", 443, "/", {"Host": "sandbox.test"})
    assert sides["gunicorn_page"][3]["X-Forwarded-Proto"] == "https"
    assert sides["app_static"][1] == serving.BENCH_PORT
    plain = serving.targets({"tls": False, "server_name": "x.test", "app_name": "demo"})
    assert plain["nginx_static"][:3] == ("http", 80, serving.STATIC_PATH)
    assert serving.url(plain["nginx_static"]) == "http://127.0.0.1:80" + serving.STATIC_PATH


def test_wrk_command_is_bounded():
    argv = serving.wrk_command("https://127.0.0.1:443/", {"Host": "a.test"}, 10, 8)
    assert argv[:5] == ["wrk", "-t2", "-c8", "-d10s", "--latency"]
    assert argv[5:] == ["-H", "Host: a.test", "https://127.0.0.1:443/"]


UNIT = """\
# /etc/systemd/system/demo.service
[Unit]
Description=gunicorn of demo
Requires=demo.socket

[Service]
Type=notify
User=demo
WorkingDirectory=/srv/demo/current
Environment=PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
ExecStart=/srv/demo/current/venv/bin/gunicorn --config /etc/gunicorn/demo.conf.py config.wsgi:application
# Not /run/demo: that holds the socket
RuntimeDirectory=demo-gunicorn
ProtectSystem=strict
CapabilityBoundingSet=
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources

[Install]
WantedBy=multi-user.target
"""


def test_service_properties_copy_the_sandbox_not_the_start():
    assert serving.service_properties(UNIT) == [
        "-p",
        "Environment=PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1",
        "-p",
        "ProtectSystem=strict",
        "-p",
        "CapabilityBoundingSet=",
        "-p",
        "SystemCallFilter=@system-service",
        "-p",
        "SystemCallFilter=~@privileged @resources",
    ]
