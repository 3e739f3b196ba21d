"""Bounded HTTP load generator for the rolling-deploy tests (standard library only).

N client threads send GET requests to one URL until a hard cap is reached (total requests,
duration) or the run is stopped (a stop file appears, SIGTERM or SIGINT). Every request is
recorded as one JSON line: t (UNIX start time, the controller clock, so it lines up with the
deploy's event file), latency_ms, status, release (the X-Release response header), instance (the
X-Vitals-Upstream header: the gunicorn instance that answered), error. At the end a summary
(total, ok, non_2xx, errors, failed, per status, per release, per instance, the longest gap
between two answers, latency percentiles) is printed as JSON and, with --summary, written to a file.

Each request opens its own connection (`Connection: close`): a reused keep-alive connection
that nginx closes during a reload is a client-side race, not a failure of the deploy, and
counting it would make "0 failed requests" depend on timing.

Targets are restricted to loopback and to the addresses of a test-host lab made by
tools/testhosts.py (--lab NAME reads /var/lib/vitals-testhosts/NAME/state.json); any other
address is refused before a request is sent.

    python3 tools/loadgen.py --lab rolling --url https://10.88.5.10/ --host-header localhost \\
        --insecure --concurrency 4 --rate 40 --max-requests 20000 --max-duration 600 \\
        --out /tmp/requests.jsonl --summary /tmp/summary.json --stop-file /tmp/stop
"""

import argparse
import http.client
import ipaddress
import json
import math
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from typing import NamedTuple

STATE_ROOT = "/var/lib/vitals-testhosts"
# Hard ceilings: no option value can make a run larger than this.
MAX_CONCURRENCY = 64
MAX_RATE = 1000.0
MAX_REQUESTS = 1_000_000
MAX_DURATION_S = 3600.0


class Target(NamedTuple):
    scheme: str
    hostname: str
    address: str
    port: int
    path: str


class TargetError(ValueError):
    """The URL is malformed or points outside loopback and the lab."""


def lab_addresses(state):
    """Addresses of the hosts in a testhosts lab state (state.json content)."""
    return {h["address"] for h in state.get("hosts", {}).values() if h.get("address")}


def read_lab_addresses(lab, state_root=STATE_ROOT):
    path = os.path.join(state_root, lab, "state.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return lab_addresses(json.load(handle))
    except FileNotFoundError:
        raise TargetError(f"lab {lab!r} has no state at {path}: is it up (tools/testhosts.py status)?") from None


def parse_target(url, allowed, resolve):
    """Check a URL and return its Target.

    `allowed` is a set of addresses besides loopback; `resolve(host, port)` returns the host's
    addresses. Every address the name resolves to must be allowed, and the address returned is
    the one the requests connect to, so the check cannot be bypassed by a second resolution.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetError(f"bad port in {url!r}: {exc}") from None
    addresses = resolve(parts.hostname, port)
    if not addresses:
        raise TargetError(f"{parts.hostname!r} does not resolve")
    for address in addresses:
        if not ipaddress.ip_address(address).is_loopback and address not in allowed:
            raise TargetError(
                f"refusing {url!r}: {address} is neither loopback nor a host of the lab (allowed: {sorted(allowed)})"
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, addresses[0], port, path)


def resolve_host(host, port):
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_limits(concurrency, rate, max_requests, max_duration):
    """Reject option values beyond the hard ceilings (a bounded generator, by construction)."""
    for name, value, ceiling in (
        ("--concurrency", concurrency, MAX_CONCURRENCY),
        ("--rate", rate, MAX_RATE),
        ("--max-requests", max_requests, MAX_REQUESTS),
        ("--max-duration", max_duration, MAX_DURATION_S),
    ):
        if not 0 < value <= ceiling:
            raise ValueError(f"{name} must be in (0, {ceiling}], got {value}")


class Budget:
    """Hands out request slots until the count or time cap is reached or the run is stopped."""

    def __init__(self, max_requests, max_duration, clock=time.monotonic):
        self._left = max_requests
        self._clock = clock
        self._deadline = clock() + max_duration
        self._lock = threading.Lock()
        self.stopped = threading.Event()
        self.reason = None

    def stop(self, reason):
        with self._lock:
            if self.reason is None:
                self.reason = reason
        self.stopped.set()

    def take(self):
        with self._lock:
            if self.reason is None and self._left <= 0:
                self.reason = "max-requests"
            elif self.reason is None and self._clock() >= self._deadline:
                self.reason = "max-duration"
            if self.reason is not None:
                self.stopped.set()
                return False
            self._left -= 1
            return True


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an already checked address, with SNI and verification for the original name."""

    def __init__(self, address, server_name, port, timeout, context):
        super().__init__(address, port, timeout=timeout, context=context)
        self._server_name = server_name
        self._ctx = context

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self._server_name)


def connection_factory(target, timeout, insecure):
    if target.scheme == "http":
        return lambda: http.client.HTTPConnection(target.address, target.port, timeout=timeout)
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return lambda: _PinnedHTTPSConnection(target.address, target.hostname, target.port, timeout, context)


def one_request(connect, path, headers, clock=time.time, perf=time.perf_counter):
    """Send one GET on a fresh connection and return its record."""
    record = {"t": clock(), "latency_ms": None, "status": None, "release": None, "instance": None, "error": None}
    start = perf()
    conn = connect()
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        record["status"] = response.status
        record["release"] = response.getheader("X-Release")
        # The gunicorn instance the app host's nginx passed the request to (its $upstream_addr):
        # names a candidate that answered even when its release never ran.
        record["instance"] = response.getheader("X-Vitals-Upstream")
    except (OSError, http.client.HTTPException) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
        record["latency_ms"] = round((perf() - start) * 1000, 3)
    return record


def is_failure(record):
    return record["error"] is not None or not 200 <= (record["status"] or 0) < 300


def percentile(sorted_values, pct):
    if not sorted_values:
        return None
    rank = max(0, math.ceil(pct / 100 * len(sorted_values)) - 1)
    return sorted_values[rank]


def summarize(records, stop_reason=None):
    """Counts and latency figures of a run; `failed` is every request without a 2xx answer."""
    by_status, by_release, by_instance = {}, {}, {}
    errors = non_2xx = 0
    for rec in records:
        if rec["error"] is not None:
            errors += 1
            key = "error"
        else:
            key = str(rec["status"])
            if not 200 <= rec["status"] < 300:
                non_2xx += 1
        by_status[key] = by_status.get(key, 0) + 1
        release = rec["release"] or "-"
        by_release[release] = by_release.get(release, 0) + 1
        instance = rec.get("instance") or "-"
        by_instance[instance] = by_instance.get(instance, 0) + 1
    answered = sorted(r["t"] for r in records if not is_failure(r))
    latencies = sorted(r["latency_ms"] for r in records if r["latency_ms"] is not None)
    times = [r["t"] for r in records]
    return {
        "total": len(records),
        "ok": len(records) - errors - non_2xx,
        "non_2xx": non_2xx,
        "errors": errors,
        "failed": errors + non_2xx,
        "by_status": dict(sorted(by_status.items())),
        "by_release": dict(sorted(by_release.items())),
        "by_instance": dict(sorted(by_instance.items())),
        # The longest time users went without an answer (between two 2xx answers).
        "max_gap_s": round(max((b - a for a, b in zip(answered, answered[1:], strict=False)), default=0), 3),
        "first_t": min(times) if times else None,
        "last_t": max(times) if times else None,
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else None,
        },
        "stop_reason": stop_reason,
    }


def window_latency(records, start, end):
    """p99 latency of the requests sent between `start` and `end` (a deploy's switch window)
    against the p99 of the others (steady state), and the window's share of the requests."""
    inside = sorted(r["latency_ms"] for r in records if r["latency_ms"] is not None and start <= r["t"] <= end)
    outside = sorted(r["latency_ms"] for r in records if r["latency_ms"] is not None and not start <= r["t"] <= end)
    window, steady = percentile(inside, 99), percentile(outside, 99)
    return {
        "window_requests": len(inside),
        "window_p99_ms": window,
        "steady_p99_ms": steady,
        "window_p99_ratio": round(window / steady, 2) if window is not None and steady else None,
    }


def client_loop(budget, interval, send, sink, clock=time.monotonic):
    """One client: a request per `interval` seconds (no catch-up bursts when late)."""
    next_at = clock()
    while budget.take():
        sink(send())
        next_at = max(next_at + interval, clock())
        delay = next_at - clock()
        if delay > 0 and budget.stopped.wait(delay):
            return


def watch_stop_file(budget, path, poll=0.1):
    while not budget.stopped.wait(poll):
        if os.path.exists(path):
            budget.stop("stop-file")


def run(args, out):
    allowed = read_lab_addresses(args.lab, args.state_root) if args.lab else set()
    target = parse_target(args.url, allowed, resolve_host)
    connect = connection_factory(target, args.timeout, args.insecure)
    headers = {"Host": args.host_header or target.hostname, "Connection": "close", "User-Agent": "vitals-loadgen"}
    budget = Budget(args.max_requests, args.max_duration)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *args: budget.stop("signal"))
    records, lock = [], threading.Lock()

    def sink(record):
        line = json.dumps(record, sort_keys=True) + "\n"
        with lock:
            records.append(record)
            out.write(line)
            out.flush()

    interval = args.concurrency / args.rate
    threads = [
        threading.Thread(
            target=client_loop, args=(budget, interval, lambda: one_request(connect, target.path, headers), sink)
        )
        for client in range(args.concurrency)
    ]
    if args.stop_file:
        threads.append(threading.Thread(target=watch_stop_file, args=(budget, args.stop_file), daemon=True))
    for thread in threads:
        thread.start()
    # Join with a timeout so the main thread keeps handling signals.
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    return summarize(records, budget.reason)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--url", required=True, help="http(s) URL on loopback or a lab host")
    parser.add_argument("--lab", help="testhosts lab whose host addresses may be targeted")
    parser.add_argument("--state-root", default=STATE_ROOT, help="testhosts state directory")
    parser.add_argument("--host-header", help="Host header to send (default: the URL's host)")
    parser.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--rate", type=float, default=40.0, help="total requests per second (default 40)")
    parser.add_argument("--max-requests", type=int, default=50_000, help="stop after this many requests")
    parser.add_argument("--max-duration", type=float, default=900.0, help="stop after this many seconds")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    parser.add_argument("--stop-file", help="stop as soon as this file exists")
    parser.add_argument("--out", help="JSON lines file of every request (default: discard)")
    parser.add_argument("--summary", help="also write the summary JSON to this file")
    args = parser.parse_args(argv)
    try:
        check_limits(args.concurrency, args.rate, args.max_requests, args.max_duration)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.stop_file and os.path.exists(args.stop_file):
        os.unlink(args.stop_file)
    try:
        with open(args.out or os.devnull, "w", encoding="utf-8") as out:
            summary = run(args, out)
    except TargetError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(summary, sort_keys=True)
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
