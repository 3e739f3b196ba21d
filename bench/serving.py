"""Benchmark: serving through nginx against gunicorn alone, and the stack's memory (RSS and PSS).

On the converged all-in-one host of bench/converge.py (--reuse: the host it left running; else
this script boots lab `bench_converge` and runs site.yml once, untimed):

- database page: GET / through nginx (TLS or not as the inventory says, Host from
  app_server_names) against the same page from gunicorn alone. Target: nginx >= 0.85 x gunicorn.
- static file: /static/admin/css/base.css through nginx against the same file through the app
  (django.views.static.serve, as DEBUG would). Target: nginx >= 10 x the app.
- memory: RSS and PSS (/proc/PID/smaps_rollup) of postgres, gunicorn (master + workers), nginx
  and vitals-health, summed per systemd unit, at idle and in the middle of the nginx load on /.

Gunicorn alone is a temporary gunicorn (a transient systemd unit, as the app's user, with the
release's venv, the app's env file, the app unit's environment and sandboxing, and the same
/etc/gunicorn/<app>.conf.py, so the same workers) bound to a loopback TCP port, because wrk
speaks TCP, not unix sockets. Its settings
differ from production's only in ROOT_URLCONF, which adds the static route in front of the app's
URLs. It is stopped and its files removed at the end.

wrk runs ON the test host (installed there with apt) against loopback, for both sides of each
ratio: the same client, on the same CPUs, over the same kind of path; the gunicorn port is never
reachable from the network. An SSH tunnel to the socket would put one encrypted stream in front
of gunicorn alone only, and throttle that side. For reference, nginx's / is also loaded once from
the controller over the lab bridge (the way a client reaches it).

Every run: wrk -t2 -c8 -d10s --latency; the pairs alternate (A B B A) for --rounds rounds and
the mean requests/s of each side are compared.

    .venv/bin/python bench/serving.py [--reuse] [--keep] [--duration 10] [--connections 8] [--rounds 2]

Writes bench/results/serving.json and bench/results/memory.json; removes the lab unless --keep.
"""

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import benchlib
import converge
from benchlib import ssh_argv

REPO = converge.REPO
RESULTS = REPO / "bench" / "results"
STATIC_PATH = "/static/admin/css/base.css"
BENCH_PORT = 8399
BENCH_UNIT = "vitals-bench-gunicorn"
BENCH_DIR = "/run/vitals-bench"
TARGET_DYNAMIC = 0.85
TARGET_STATIC = 10.0
WRK_THREADS = 2

# The temporary app: production settings, plus a static route in front of the app's URLs.
BENCH_SETTINGS = """\
from config.settings import *  # noqa: F403

ROOT_URLCONF = "vitals_bench_urls"
"""
BENCH_URLS = """\
from config.urls import urlpatterns as app_urlpatterns
from django.conf import settings
from django.urls import re_path
from django.views.static import serve

urlpatterns = [
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT}),
    *app_urlpatterns,
]
"""
# Runs on the host with Debian's python3: every process's cgroup, name and smaps_rollup.
MEMORY_SNAPSHOT = """\
import json, os
rows = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open("/proc/%s/cgroup" % pid, encoding="utf-8") as fh:
            cgroup = fh.read()
        with open("/proc/%s/comm" % pid, encoding="utf-8") as fh:
            comm = fh.read().strip()
        with open("/proc/%s/smaps_rollup" % pid, encoding="utf-8") as fh:
            smaps = fh.read()
    except OSError:
        continue
    rows.append({"pid": int(pid), "comm": comm, "cgroup": cgroup, "smaps": smaps})
print(json.dumps(rows))
"""
# One request each way before the load: the status and size must match, or wrk would count
# redirects and error pages as served requests.
PROBE = """\
import http.client, json, ssl, sys
out = {}
for name, scheme, port, path, headers in json.loads(sys.argv[1]):
    if scheme == "https":
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        out[name] = {"status": resp.status, "bytes": len(body), "location": resp.getheader("Location")}
    except OSError as exc:
        out[name] = {"status": None, "error": str(exc)}
print(json.dumps(out))
"""

_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def duration_s(text):
    """wrk's durations: 812.00us, 10.01ms, 1.20s, 1.00m."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError("not a wrk duration: %r" % text)
    return float(match.group(1)) * _UNITS_S[match.group(2)]


def parse_wrk(text):
    """The figures of one wrk run (requests/s, totals, latency percentiles in ms, errors)."""
    result = {"socket_errors": 0, "non_2xx_3xx": 0}
    match = re.search(r"^\s*(\d+) requests in ([\d.]+\w+), ([\d.]+)(\w+) read", text, re.M)
    if not match:
        raise ValueError("no request count in wrk output:\n" + text)
    result["requests"] = int(match.group(1))
    result["duration_s"] = round(duration_s(match.group(2)), 2)
    result["bytes_read"] = int(float(match.group(3)) * _SIZE.get(match.group(4), 1))
    match = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not match:
        raise ValueError("no Requests/sec in wrk output:\n" + text)
    result["rps"] = float(match.group(1))
    latency = {}
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", text, re.M):
        latency["p" + pct] = round(duration_s(value) * 1000, 3)
    result["latency_ms"] = latency
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if match:
        result["socket_errors"] = sum(int(x) for x in match.groups())
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if match:
        result["non_2xx_3xx"] = int(match.group(1))
    return result


def systemd_unit(cgroup_text):
    """The systemd unit a process belongs to, from /proc/PID/cgroup (v2 line, or v1 name=systemd)."""
    path = ""
    for line in cgroup_text.splitlines():
        hierarchy, _sep, rest = line.partition(":")
        controllers, _sep, cgpath = rest.partition(":")
        if hierarchy == "0" or controllers == "name=systemd":
            path = cgpath
            if hierarchy == "0":
                break
    units = [part for part in path.split("/") if part.endswith((".service", ".scope"))]
    return units[-1] if units else ""


def stack_part(unit, app_name):
    """Which part of the stack a unit is; None for the rest of the host (sshd, journald, ...)."""
    if unit.startswith("postgresql"):
        return "postgres"
    if unit == "%s.service" % app_name:
        return "gunicorn"
    if unit.startswith("nginx"):
        return "nginx"
    if unit.startswith("vitals-health"):
        return "vitals-health"
    return None


def smaps_kb(text):
    values = {}
    for line in text.splitlines():
        match = re.match(r"^(Rss|Pss):\s+(\d+) kB", line)
        if match:
            values[match.group(1).lower()] = int(match.group(2))
    return values


PARTS = ("postgres", "gunicorn", "nginx", "vitals-health")


def memory_summary(rows, app_name):
    """RSS and PSS in MiB per stack part (process count too), the stack's sum and the host's
    (every process but the benchmark's own)."""
    parts = {name: {"processes": 0, "rss_kb": 0, "pss_kb": 0} for name in PARTS}
    host = {"processes": 0, "rss_kb": 0, "pss_kb": 0}
    for row in rows:
        kb = smaps_kb(row["smaps"])
        if not kb.get("rss"):
            continue  # kernel threads have no user memory
        unit = systemd_unit(row["cgroup"])
        # The benchmark's own processes (its gunicorn; wrk and this snapshot in the SSH session)
        # are no part of what the host needs.
        mine = unit.startswith(BENCH_UNIT) or unit.startswith("session-")
        for bucket in (parts.get(stack_part(unit, app_name)), None if mine else host):
            if bucket is not None:
                bucket["processes"] += 1
                bucket["rss_kb"] += kb["rss"]
                bucket["pss_kb"] += kb.get("pss", 0)
    stack = {
        "processes": sum(p["processes"] for p in parts.values()),
        "rss_kb": sum(p["rss_kb"] for p in parts.values()),
        "pss_kb": sum(p["pss_kb"] for p in parts.values()),
    }

    def mib(bucket):
        return {
            "processes": bucket["processes"],
            "rss_mib": round(bucket["rss_kb"] / 1024, 1),
            "pss_mib": round(bucket["pss_kb"] / 1024, 1),
        }

    return {"parts": {name: mib(p) for name, p in parts.items()}, "stack": mib(stack), "host": mib(host)}


def wrk_command(url, headers, duration, connections):
    argv = ["wrk", "-t%d" % WRK_THREADS, "-c%d" % connections, "-d%ds" % duration, "--latency"]
    for name, value in headers.items():
        argv += ["-H", "%s: %s" % (name, value)]
    return argv + [url]


def abba(pair, rounds):
    """The order of the runs: A B B A ..., so a drift in the machine's load hits both sides alike."""
    order = []
    for index in range(rounds):
        order += list(pair) if index % 2 == 0 else list(reversed(pair))
    return order


def compare(samples, numerator, denominator):
    """Mean requests/s of each side (raw samples beside them) and their ratio."""
    top = statistics.mean(s["rps"] for s in samples[numerator])
    bottom = statistics.mean(s["rps"] for s in samples[denominator])
    return {
        numerator + "_rps": round(top, 1),
        denominator + "_rps": round(bottom, 1),
        "ratio": round(top / bottom, 3) if bottom else None,
        "socket_errors": {name: sum(s["socket_errors"] for s in samples[name]) for name in (numerator, denominator)},
        "samples": {name: samples[name] for name in (numerator, denominator)},
    }


class Host:
    """The test host over SSH (the lab's key)."""

    def __init__(self, instance):
        self.instance = instance
        self.argv = ssh_argv(instance)

    def run(self, script, check=True):
        proc = subprocess.run([*self.argv, "bash", "-s"], input=script, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise SystemExit("on the host: %s\n%s%s" % (script[:300], proc.stdout[-2000:], proc.stderr[-2000:]))
        return proc.stdout

    def put(self, path, content, mode="0644"):
        self.run("install -m %s /dev/stdin %s <<'VITALS_EOF'\n%sVITALS_EOF\n" % (mode, shlex.quote(path), content))


def app_settings(inventory, host):
    """The host's app_* settings as the inventory states them (raw, untemplated)."""
    exe = str(Path(benchlib.ansible_playbook_path()).with_name("ansible-inventory"))
    out = subprocess.run([exe, "-i", str(inventory), "--host", host], capture_output=True, text=True, check=True).stdout
    hostvars = json.loads(out)
    return {
        "app_name": hostvars.get("app_name", "demo"),
        "server_name": (hostvars.get("app_server_names") or ["localhost"])[0],
        "tls": bool(hostvars.get("app_tls", False)),
        "health_port": int(hostvars.get("health_monitor_port", 9105)),
    }


# Keys of the app's unit that name what the temporary unit sets itself (or must not copy:
# start, stop and restart behaviour); everything else, the sandboxing above all, is copied.
UNIT_KEYS_NOT_COPIED = frozenset(
    {
        "Type",
        "NotifyAccess",
        "User",
        "Group",
        "WorkingDirectory",
        "EnvironmentFile",
        "ExecStart",
        "ExecReload",
        "KillMode",
        "TimeoutStopSec",
        "Restart",
        "RestartSec",
        "RuntimeDirectory",
    }
)


def service_properties(unit_text):
    """The [Service] settings of `systemctl cat` output as systemd-run -p arguments, less the
    keys the temporary unit sets itself: gunicorn alone runs under the app's own sandbox, so
    the comparison measures nginx, not systemd's hardening."""
    properties, section = [], None
    for raw in unit_text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Service" or not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key = line.split("=", 1)[0].strip()
        if key not in UNIT_KEYS_NOT_COPIED:
            properties += ["-p", line]
    return properties


def start_bench_gunicorn(host, app):
    name = app["app_name"]
    root = "/srv/%s" % name
    hardening = service_properties(host.run("systemctl cat %s.service" % name))
    host.run("rm -rf %s && mkdir -m 0755 %s" % (BENCH_DIR, BENCH_DIR))
    host.put(BENCH_DIR + "/vitals_bench_settings.py", BENCH_SETTINGS)
    host.put(BENCH_DIR + "/vitals_bench_urls.py", BENCH_URLS)
    host.put(BENCH_DIR + "/memory.py", MEMORY_SNAPSHOT)
    host.put(BENCH_DIR + "/probe.py", PROBE)
    # The app's env file names its settings module; gunicorn's --env is applied after it.
    command = [
        "systemd-run",
        "--unit",
        BENCH_UNIT,
        "--uid",
        name,
        "--gid",
        name,
        "-p",
        "EnvironmentFile=%s/shared/env" % root,
        "-p",
        "WorkingDirectory=%s/current" % root,
        "-p",
        "RuntimeDirectory=%s" % BENCH_UNIT,
        *hardening,
        "%s/current/venv/bin/gunicorn" % root,
        "--config",
        "/etc/gunicorn/%s.conf.py" % name,
        "--bind",
        "127.0.0.1:%d" % BENCH_PORT,
        # Its own control socket: the default path is the production gunicorn's.
        "--control-socket",
        "/run/%s/gunicorn.ctl" % BENCH_UNIT,
        "--pythonpath",
        BENCH_DIR,
        "--env",
        "DJANGO_SETTINGS_MODULE=vitals_bench_settings",
        "config.wsgi:application",
    ]
    host.run(shlex.join(command))
    script = (
        "for i in $(seq 1 60); do "
        "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", %d), 1)' 2>/dev/null && exit 0; "
        "sleep 0.5; done; journalctl -u %s --no-pager | tail -n 30; exit 1" % (BENCH_PORT, BENCH_UNIT)
    )
    host.run(script)
    return int(host.run("systemctl show -p NMainPID --value %s 2>/dev/null || true" % BENCH_UNIT).strip() or 0)


def stop_bench_gunicorn(host):
    host.run(
        "systemctl stop %s 2>/dev/null; systemctl reset-failed %s 2>/dev/null; rm -rf %s"
        % (BENCH_UNIT, BENCH_UNIT, BENCH_DIR),
        check=False,
    )


def ensure_wrk(host):
    host.run(
        "command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk"
        " >/dev/null"
    )


def targets(app):
    """name -> (scheme, port, path, headers) for the four sides, all on the host's loopback."""
    scheme = "https" if app["tls"] else "http"
    port = 443 if app["tls"] else 80
    nginx_headers = {"Host": app["server_name"]}
    # What nginx adds on its way to gunicorn: without it, a TLS site's app redirects to https.
    app_headers = {"Host": app["server_name"], "X-Forwarded-Proto": scheme}
    return {
        "nginx_page": (scheme, port, "/", nginx_headers),
        "gunicorn_page": ("http", BENCH_PORT, "/", app_headers),
        "nginx_static": (scheme, port, STATIC_PATH, nginx_headers),
        "app_static": ("http", BENCH_PORT, STATIC_PATH, app_headers),
    }


def probe(host, sides):
    argument = json.dumps([[name, *spec] for name, spec in sides.items()])
    result = json.loads(host.run("python3 %s/probe.py %s" % (BENCH_DIR, shlex.quote(argument))))
    problems = [
        "%s: %s" % (name, answer)
        for name, answer in result.items()
        if answer.get("status") != 200 or not answer["bytes"]
    ]
    if result["nginx_static"].get("bytes") != result["app_static"].get("bytes"):
        problems.append("static sizes differ: %s" % result)
    if problems:
        raise SystemExit("probe before the load: " + "; ".join(problems))
    return result


def url(spec):
    scheme, port, path, _headers = spec
    return "%s://127.0.0.1:%d%s" % (scheme, port, path)


def load(host, spec, args, memory_at=None):
    """One wrk run on the host; with memory_at, a memory snapshot that many seconds into it."""
    command = shlex.join(wrk_command(url(spec), spec[3], args.duration, args.connections))
    if memory_at is None:
        return parse_wrk(host.run(command)), None
    script = (
        "%s > %s/wrk.out 2>&1 & pid=$!; sleep %s; python3 %s/memory.py; wait $pid; echo VITALS-WRK; cat %s/wrk.out"
        % (command, BENCH_DIR, memory_at, BENCH_DIR, BENCH_DIR)
    )
    memory, _sep, wrk = host.run(script).partition("VITALS-WRK\n")
    return parse_wrk(wrk), json.loads(memory)


def check_clean(name, sample):
    """Error pages would be counted as served: stop. Socket errors are kept and reported: the
    production settings restart each worker after ~1000 requests, and a connection open to a
    worker that restarts is cut."""
    if sample["non_2xx_3xx"]:
        raise SystemExit("%s: %d error responses" % (name, sample["non_2xx_3xx"]))


def measure(host, app, args):
    sides = targets(app)
    # The probe's requests also start the production gunicorn, and this one the health endpoint:
    # both are socket-activated and, once started, stay. Idle means started and unloaded.
    probed = probe(host, sides)
    host.run(
        "python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:%d/metrics\", timeout=30).read()'"
        " 2>/dev/null || true" % app["health_port"]
    )
    time.sleep(3)
    idle_rows = json.loads(host.run("python3 %s/memory.py" % BENCH_DIR))
    samples = {name: [] for name in sides}
    load_rows = None
    for pair in (("nginx_page", "gunicorn_page"), ("nginx_static", "app_static")):
        for name in abba(pair, args.rounds):
            wants_memory = name == "nginx_page" and load_rows is None
            sample, rows = load(host, sides[name], args, memory_at=args.duration / 2 if wants_memory else None)
            check_clean(name, sample)
            samples[name].append(sample)
            load_rows = rows if rows is not None else load_rows
    return probed, samples, idle_rows, load_rows


def from_controller(instance, app, args):
    """nginx's / loaded from the controller over the lab bridge (reference only, not in a ratio)."""
    scheme = "https" if app["tls"] else "http"
    argv = wrk_command(
        "%s://%s/" % (scheme, instance["address"]), {"Host": app["server_name"]}, args.duration, args.connections
    )
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return parse_wrk(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr.strip()[-300:]}


def get_host(args):
    """(instance, inventory, converged_here): the kept converge host, or a new one converged now."""
    if args.reuse and converge.LAB_FILE.exists():
        kept = json.loads(converge.LAB_FILE.read_text(encoding="utf-8"))
        return kept["instance"], kept["inventory"], False
    converge.lab_down()
    instance = converge.lab_up(args.release)
    inventory = converge.write_inventory(instance, args.release)
    converge.run_playbook(inventory, label="serving-converge")
    return instance, inventory, True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="use the host bench/converge.py --keep left running")
    parser.add_argument("--keep", action="store_true", help="leave the lab running")
    parser.add_argument("--release", default="trixie", choices=["trixie", "bookworm"])
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="A B B A rounds per comparison (default 2)")
    args = parser.parse_args()
    started = time.monotonic()
    host = None
    try:
        instance, inventory, converged_here = get_host(args)
        host = Host(instance)
        app = app_settings(inventory, converge.HOST)
        ensure_wrk(host)
        workers = host.run("grep -E '^workers = ' /etc/gunicorn/%s.conf.py" % app["app_name"]).split("=")[1].strip()
        start_bench_gunicorn(host, app)
        probed, samples, idle_rows, load_rows = measure(host, app, args)
        controller = from_controller(instance, app, args)
    finally:
        if host is not None:
            stop_bench_gunicorn(host)
        if not args.keep:
            converge.lab_down()
    common = {
        "host": "test host %s, all-in-one, %s" % (instance["address"], "https" if app["tls"] else "http"),
        "load": "wrk -t%d -c%d -d%ds on the host against loopback; %d A B B A rounds"
        % (WRK_THREADS, args.connections, args.duration, args.rounds),
        "gunicorn_workers": int(workers),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "converged_here": converged_here,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    page = compare(samples, "nginx_page", "gunicorn_page")
    static = compare(samples, "nginx_static", "app_static")
    serving = {
        "part": "serving",
        **common,
        "page": {**page, "path": "/", "target_ratio": TARGET_DYNAMIC, "met": (page["ratio"] or 0) >= TARGET_DYNAMIC},
        "static": {
            **static,
            "path": STATIC_PATH,
            "bytes": probed["nginx_static"]["bytes"],
            "target_ratio": TARGET_STATIC,
            "met": (static["ratio"] or 0) >= TARGET_STATIC,
        },
        "nginx_page_from_controller": controller,
        "page_bytes": probed["nginx_page"]["bytes"],
        "total_s": round(time.monotonic() - started, 1),
    }
    memory = {
        "part": "memory",
        **common,
        "idle": memory_summary(idle_rows, app["app_name"]),
        "under_load": memory_summary(load_rows, app["app_name"]),
        "under_load_when": "%.0f s into wrk on / through nginx" % (args.duration / 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(serving, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "memory.json").write_text(json.dumps(memory, indent=2) + "\n", encoding="utf-8")
    print_report(serving, memory)
    return 0 if serving["page"]["met"] and serving["static"]["met"] else 1


def print_report(serving, memory):
    page, static = serving["page"], serving["static"]
    print(
        "serving /: nginx %.0f req/s, gunicorn alone %.0f req/s: ratio %.2f (target >= %.2f): %s"
        % (page["nginx_page_rps"], page["gunicorn_page_rps"], page["ratio"], TARGET_DYNAMIC, _met(page))
    )
    print(
        "serving %s: nginx %.0f req/s, the app %.0f req/s: ratio %.1fx (target >= %.0fx): %s"
        % (
            STATIC_PATH,
            static["nginx_static_rps"],
            static["app_static_rps"],
            static["ratio"],
            TARGET_STATIC,
            _met(static),
        )
    )
    controller = serving["nginx_page_from_controller"]
    if "rps" in controller:
        print("serving /: nginx from the controller over the bridge %.0f req/s (reference)" % controller["rps"])
    for state in ("idle", "under_load"):
        summary = memory[state]
        parts = ", ".join("%s %.0f MiB" % (name, figures["rss_mib"]) for name, figures in summary["parts"].items())
        print(
            "memory %s: stack RSS %.0f MiB, PSS %.0f MiB (%s)"
            % (state.replace("_", " "), summary["stack"]["rss_mib"], summary["stack"]["pss_mib"], parts)
        )


def _met(figure):
    return "met" if figure["met"] else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
