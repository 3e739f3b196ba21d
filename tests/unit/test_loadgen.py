"""tools/loadgen.py: target restriction, caps, summary, and real runs against a loopback server."""

import importlib.util
import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[2] / "tools" / "loadgen.py"
_SPEC = importlib.util.spec_from_file_location("loadgen", _PATH)
loadgen = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(loadgen)


def fixed_resolver(table):
    return lambda host, port: table.get(host, [])


LAB_STATE = {
    "lab": "rolling",
    "hosts": {"lb": {"address": "10.88.5.10"}, "app1": {"address": "10.88.5.11"}, "pending": {}},
}


def test_lab_addresses_are_the_hosts_addresses():
    assert loadgen.lab_addresses(LAB_STATE) == {"10.88.5.10", "10.88.5.11"}


def test_read_lab_addresses_from_state_file(tmp_path):
    (tmp_path / "rolling").mkdir()
    (tmp_path / "rolling" / "state.json").write_text(json.dumps(LAB_STATE))
    assert loadgen.read_lab_addresses("rolling", str(tmp_path)) == {"10.88.5.10", "10.88.5.11"}


def test_read_lab_addresses_missing_lab_is_a_clear_error(tmp_path):
    with pytest.raises(loadgen.TargetError, match="lab 'nope' has no state"):
        loadgen.read_lab_addresses("nope", str(tmp_path))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/x?y=1", ("http", "127.0.0.1", "127.0.0.1", 8080, "/x?y=1")),
        ("https://10.88.5.10", ("https", "10.88.5.10", "10.88.5.10", 443, "/")),
        ("http://lb/", ("http", "lb", "10.88.5.10", 80, "/")),
        ("http://[::1]:81/", ("http", "::1", "::1", 81, "/")),
    ],
)
def test_parse_target_accepts_loopback_and_lab(url, expected):
    resolver = fixed_resolver(
        {"127.0.0.1": ["127.0.0.1"], "10.88.5.10": ["10.88.5.10"], "lb": ["10.88.5.10"], "::1": ["::1"]}
    )
    assert loadgen.parse_target(url, {"10.88.5.10"}, resolver) == expected


@pytest.mark.parametrize(
    ("url", "table", "message"),
    [
        ("http://192.0.2.7/", {"192.0.2.7": ["192.0.2.7"]}, "neither loopback nor a host of the lab"),
        ("http://10.88.5.12/", {"10.88.5.12": ["10.88.5.12"]}, "neither loopback"),
        ("http://mixed/", {"mixed": ["127.0.0.1", "198.51.100.1"]}, "198.51.100.1 is neither"),
        ("http://unknown/", {}, "does not resolve"),
        ("ftp://127.0.0.1/", {}, "not an http"),
        ("http:///path", {}, "not an http"),
        ("http://127.0.0.1:99999/", {"127.0.0.1": ["127.0.0.1"]}, "bad port"),
    ],
)
def test_parse_target_refuses_everything_else(url, table, message):
    with pytest.raises(loadgen.TargetError, match=message):
        loadgen.parse_target(url, {"10.88.5.10"}, fixed_resolver(table))


@pytest.mark.parametrize(
    "values",
    [(0, 1, 1, 1), (65, 1, 1, 1), (1, 0, 1, 1), (1, 1001, 1, 1), (1, 1, 0, 1), (1, 1, 1_000_001, 1), (1, 1, 1, 3601)],
)
def test_check_limits_refuses_values_beyond_the_ceilings(values):
    with pytest.raises(ValueError, match="must be in"):
        loadgen.check_limits(*values)


def test_parse_args_rejects_unbounded_runs(capsys):
    with pytest.raises(SystemExit):
        loadgen.parse_args(["--url", "http://127.0.0.1/", "--max-duration", "7200"])
    assert "--max-duration must be in" in capsys.readouterr().err


def test_budget_stops_at_max_requests():
    budget = loadgen.Budget(3, 60)
    assert [budget.take() for attempt in range(5)] == [True, True, True, False, False]
    assert budget.reason == "max-requests"
    assert budget.stopped.is_set()


def test_budget_stops_at_max_duration():
    now = [100.0]
    budget = loadgen.Budget(1000, 10, clock=lambda: now[0])
    assert budget.take()
    now[0] = 110.0
    assert not budget.take()
    assert budget.reason == "max-duration"


def test_budget_first_stop_reason_wins():
    budget = loadgen.Budget(1000, 60)
    budget.stop("signal")
    budget.stop("stop-file")
    assert not budget.take()
    assert budget.reason == "signal"


def record(status=200, error=None, release="v1", latency=10.0, t=0.0):
    return {"t": t, "latency_ms": latency, "status": status, "release": release, "error": error}


def test_summarize_counts_every_request_without_a_2xx_as_failed():
    records = [
        record(200, latency=1, t=5),
        record(204, release="v2", latency=2, t=6),
        record(302, latency=3),
        record(502, release=None, latency=4),
        record(None, error="ConnectionRefusedError: refused", release=None, latency=5, t=9),
    ]
    summary = loadgen.summarize(records, "stop-file")
    assert summary["total"] == 5
    assert summary["ok"] == 2
    assert summary["non_2xx"] == 2
    assert summary["errors"] == 1
    assert summary["failed"] == 3
    assert summary["by_status"] == {"200": 1, "204": 1, "302": 1, "502": 1, "error": 1}
    assert summary["by_release"] == {"-": 2, "v1": 2, "v2": 1}
    assert summary["latency_ms"] == {"p50": 3, "p95": 5, "p99": 5, "max": 5}
    assert (summary["first_t"], summary["last_t"], summary["stop_reason"]) == (0.0, 9, "stop-file")
    assert [loadgen.is_failure(r) for r in records] == [False, False, True, True, True]


def test_summarize_counts_instances_and_the_longest_gap_between_answers():
    records = [
        dict(record(t=1.0), instance="unix:/run/demo/gunicorn.sock"),
        dict(record(502, t=1.5), instance="unix:/run/demo/next.sock"),
        dict(record(t=2.2), instance="unix:/run/demo/next.sock"),
        record(t=2.5),
    ]
    summary = loadgen.summarize(records)
    assert summary["by_instance"] == {"-": 1, "unix:/run/demo/gunicorn.sock": 1, "unix:/run/demo/next.sock": 2}
    # The 502 is no answer: users waited from 1.0 to 2.2.
    assert summary["max_gap_s"] == 1.2


def test_summarize_empty_run():
    summary = loadgen.summarize([])
    assert summary["total"] == 0
    assert summary["failed"] == 0
    assert summary["latency_ms"]["p50"] is None


def test_client_loop_paces_requests_and_stops_with_the_budget():
    now = [0.0]
    sent = []

    def send():
        sent.append(now[0])
        now[0] += 0.1  # each request takes 0.1 s
        return record()

    budget = loadgen.Budget(4, 60, clock=lambda: now[0])
    waits = []

    class FakeEvent:
        def wait(self, delay):
            waits.append(round(delay, 3))
            now[0] += delay
            return False

        def set(self):
            pass

    budget.stopped = FakeEvent()
    loadgen.client_loop(budget, 0.5, send, lambda rec: None, clock=lambda: now[0])
    assert sent == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert waits == [0.4, 0.4, 0.4, 0.4]


class _App(BaseHTTPRequestHandler):
    """Answers 200 with an X-Release header; /fail answers 500."""

    def do_GET(self):
        status = 500 if self.path.startswith("/fail") else 200
        body = b"ok"
        self.send_response(status)
        self.send_header("X-Release", "20261123T190000Z")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.hosts.append(self.headers["Host"])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    httpd.hosts = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def run_main(tmp_path, *extra):
    out, summary = tmp_path / "requests.jsonl", tmp_path / "summary.json"
    argv = ["--out", str(out), "--summary", str(summary), "--concurrency", "3", "--rate", "300", *extra]
    return loadgen.main(argv), out, summary


def test_main_records_every_request_of_a_real_run(server, tmp_path, capsys):
    port = server.server_address[1]
    rc, out, summary = run_main(
        tmp_path, "--url", f"http://127.0.0.1:{port}/", "--max-requests", "30", "--host-header", "demo.test"
    )
    assert rc == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 30
    assert all(line["status"] == 200 and line["release"] == "20261123T190000Z" for line in lines)
    assert set(server.hosts) == {"demo.test"}
    result = json.loads(summary.read_text())
    assert result == json.loads(capsys.readouterr().out)
    assert (result["total"], result["failed"], result["stop_reason"]) == (30, 0, "max-requests")


def test_main_counts_500_and_connection_errors(server, tmp_path):
    port = server.server_address[1]
    rc, dummy, summary = run_main(tmp_path, "--url", f"http://127.0.0.1:{port}/fail", "--max-requests", "6")
    assert rc == 0
    assert json.loads(summary.read_text())["non_2xx"] == 6

    closed = server.server_address[1]
    server.shutdown()
    server.server_close()
    rc, dummy, summary = run_main(tmp_path, "--url", f"http://127.0.0.1:{closed}/", "--max-requests", "4")
    result = json.loads(summary.read_text())
    assert (result["errors"], result["failed"]) == (4, 4)


def test_main_stops_when_the_stop_file_appears(server, tmp_path):
    port = server.server_address[1]
    stop = tmp_path / "stop"
    threading.Timer(0.5, stop.touch).start()
    rc, dummy, summary = run_main(
        tmp_path, "--url", f"http://127.0.0.1:{port}/", "--rate", "20", "--stop-file", str(stop), "--max-duration", "30"
    )
    result = json.loads(summary.read_text())
    assert rc == 0
    assert result["stop_reason"] == "stop-file"
    assert 0 < result["total"] < 40


def test_main_stops_at_max_duration(server, tmp_path):
    port = server.server_address[1]
    rc, dummy, summary = run_main(
        tmp_path, "--url", f"http://127.0.0.1:{port}/", "--rate", "20", "--max-duration", "0.5"
    )
    result = json.loads(summary.read_text())
    assert (rc, result["stop_reason"]) == (0, "max-duration")
    assert 0 < result["total"] <= 15


def test_main_refuses_a_target_outside_the_lab_without_sending(tmp_path, capsys):
    (tmp_path / "lab" / "rolling").mkdir(parents=True)
    (tmp_path / "lab" / "rolling" / "state.json").write_text(json.dumps(LAB_STATE))
    rc, out, summary = run_main(
        tmp_path, "--url", "http://192.0.2.1/", "--lab", "rolling", "--state-root", str(tmp_path / "lab")
    )
    assert rc == 2
    assert "192.0.2.1 is neither loopback nor a host of the lab" in capsys.readouterr().err
    assert out.read_text() == ""
    assert not summary.exists()


def test_window_latency_compares_the_switch_window_with_steady_state():
    records = [dict(record(t=float(t)), latency_ms=10.0) for t in range(10)]
    records += [dict(record(t=4.5), latency_ms=35.0), dict(record(t=5.5), latency_ms=20.0)]
    figures = loadgen.window_latency(records, 4.0, 6.0)
    assert figures["window_requests"] == 5  # t = 4, 4.5, 5, 5.5, 6
    assert figures["window_p99_ms"] == 35.0
    assert figures["steady_p99_ms"] == 10.0
    assert figures["window_p99_ratio"] == 3.5


def test_window_latency_without_requests_in_the_window():
    figures = loadgen.window_latency([dict(record(t=1.0), latency_ms=10.0)], 5.0, 6.0)
    assert figures["window_requests"] == 0
    assert figures["window_p99_ratio"] is None
