# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Switch one app host to a release whose candidate instance passed the deploy gate.

Installed by vitals.django.rollout as /usr/local/libexec/vitals/switch and run under
`systemd-run --wait`, so a dropped SSH connection cannot stop it halfway:

1. the candidate's workers get their first requests from here (--warm of them at once, on its
   socket), then nginx's upstream file points at it (/run/<app>/next.sock): `nginx -t`, reload;
2. the site is checked through nginx as users see it, answered by the candidate
   (the X-Vitals-Upstream response header names the instance); a failure flips back at once;
3. `current` moves to the release, the live instance <app>.service restarts on it while the
   candidate serves; once it answers on its own socket (and is warmed the same way) nginx points
   back at it and the site is checked again (a failure here goes back to the previous release the same way);
4. the candidate stops once nginx's old workers have finished their requests.

Each step is recorded in --record (JSON), which the next deploy reports. Exit 0 when switched.
"""

import argparse
import concurrent.futures
import contextlib
import datetime
import http.client
import json
import os
import socket as socket_module
import ssl
import subprocess
import sys
import time
import urllib.parse

FINAL = ("switched", "flipped-back", "rolled-back", "error")


def app_socket(app):
    return "/run/%s/gunicorn.sock" % app


def upstream_file(app):
    return "/etc/nginx/vitals/%s-upstream.conf" % app


def now():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_atomic(path, text):
    tmp = "%s.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def nginx_workers():
    try:
        with open("/run/nginx.pid", encoding="ascii") as f:
            master = f.read().strip()
    except OSError:
        return []
    out = subprocess.run(["pgrep", "--parent", master], stdout=subprocess.PIPE, text=True, check=False)
    return out.stdout.split()


def point(upstream_file, socket, drain_timeout):
    """nginx sends the app's requests to socket; returns once the old workers are gone."""
    with open(upstream_file, encoding="utf-8") as f:
        before = f.read()
    text = "# Written by /usr/local/libexec/vitals/switch during a deploy's switch.\n"
    text += "server unix:%s fail_timeout=0;\n" % socket
    write_atomic(upstream_file, text)
    try:
        run("nginx", "-t", "-q")
    except subprocess.CalledProcessError:
        write_atomic(upstream_file, before)
        raise
    old = nginx_workers()
    run("systemctl", "reload", "nginx.service")
    # Old workers finish their in-flight requests on the previous upstream, then exit.
    deadline = time.monotonic() + drain_timeout
    while old and time.monotonic() < deadline:
        old = [pid for pid in old if os.path.exists("/proc/%s" % pid)]
        time.sleep(0.1)


def get(url, host, timeout):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        context = ssl.create_default_context()
        # The host's own nginx on 127.0.0.1: the certificate is the site's, not 127.0.0.1's.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"Host": host, "User-Agent": "vitals-switch"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-Vitals-Upstream", "")
    finally:
        conn.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over gunicorn's unix socket, as nginx talks to it."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def get_direct(socket, url, host, timeout):
    """Status of url's path asked on the instance's socket with the headers nginx would send."""
    parts = urllib.parse.urlsplit(url)
    conn = UnixHTTPConnection(socket, timeout)
    headers = {"Host": host, "X-Forwarded-Proto": parts.scheme, "X-Forwarded-For": "127.0.0.1"}
    try:
        conn.request("GET", parts.path or "/", headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def warm(socket, urls, host, requests):
    """Send `requests` requests at once, over the URLs, to the instance's socket and wait for them.

    A new worker's first request is slow (imports, connections, templates): without this the
    first users sent to a new instance get those answers. At once, so every worker gets one."""

    def ask(index):
        # The checks that follow report an instance that does not answer.
        with contextlib.suppress(OSError, http.client.HTTPException):
            get_direct(socket, urls[index % len(urls)], host, timeout=10)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(requests, 1)) as pool:
        list(pool.map(ask, range(requests)))


def until_answered(urls, within, ask):
    """None once ask(url) passes for every URL, else why not. ask returns None, or (problem, final):
    a final problem is returned at once, any other is retried for within seconds."""
    deadline = time.monotonic() + within
    while True:
        problem = None
        for url in urls:
            outcome = ask(url)
            if outcome is not None:
                problem, final = outcome
                if final:
                    return problem
                break
        if problem is None or time.monotonic() >= deadline:
            return problem
        time.sleep(0.5)


def check(urls, host, socket, within):
    """None when every URL answers below 400 from socket, else why not.

    An error status from socket is final at once (users are on it); no answer, or an answer from
    the other instance (an old nginx worker), is retried for within seconds.
    """

    def ask(url):
        try:
            status, upstream = get(url, host, timeout=10)
        except (OSError, http.client.HTTPException) as exc:
            return "%s: %s" % (url, exc), False
        if upstream != "unix:" + socket:
            return "%s answered by %r, not unix:%s" % (url, upstream, socket), False
        if status >= 400:
            return "%s answered %d" % (url, status), True
        return None

    return until_answered(urls, within, ask)


def switch(args, record, save):
    sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
    import vitals_release_state as state  # noqa: PLC0415 (installed beside this command)

    def make_live(release_id):
        before = state.current_id(args.root)
        state.make_live(args.root, release_id, before, state.switch_statuses(state.scan(args.root), release_id, before))

    def mark_failed(reason):
        if args.mark_failed:
            state.record_fields(args.root, args.release, {"status": "failed", "reason": reason[:200]})

    live_socket = app_socket(args.app)
    next_socket = "/run/%s/next.sock" % args.app
    upstream = upstream_file(args.app)
    record["previous"] = state.current_id(args.root)

    save("to-candidate")
    warm(next_socket, args.url, args.host, args.warm)
    point(upstream, next_socket, args.drain_timeout)
    problem = check(args.url, args.host, next_socket, args.within)
    if problem:
        point(upstream, live_socket, args.drain_timeout)
        mark_failed("check through nginx failed: " + problem)
        return "flipped-back", "check through nginx failed: " + problem

    # Users are on the candidate: the live instance restarts on the release unseen, and nginx is
    # pointed back only once it answers on its own socket.
    save("restarting")
    make_live(args.release)
    problem = restart(args, live_socket)
    if problem is None:
        warm(live_socket, args.url, args.host, args.warm)
        point(upstream, live_socket, args.drain_timeout)
        problem = check(args.url, args.host, live_socket, args.within)
    if problem:
        problem = "live instance failed its check: " + problem
        if not record["previous"]:
            return "error", problem
        # Back to the release that was live, the same way: users stay on whichever instance answers.
        point(upstream, next_socket, args.drain_timeout)
        make_live(record["previous"])
        again = restart(args, live_socket)
        point(upstream, live_socket, args.drain_timeout)
        mark_failed(problem)
        if again:
            # Not a host that passed its checks: the run must say so, not report a clean rollback.
            return "error", "%s; the previous release did not answer either: %s" % (problem, again)
        return "rolled-back", problem
    return "switched", None


def restart(args, socket):
    """Restart the live instance; None once it answers every page on its socket, else why not."""
    run("systemctl", "restart", "%s.service" % args.app)

    def ask(url):
        try:
            status = get_direct(socket, url, args.host, timeout=10)
        except (OSError, http.client.HTTPException) as exc:
            return "%s on %s: %s" % (url, socket, exc), False
        if status >= 400:
            return "%s on %s answered %d" % (url, socket, status), False
        return None

    return until_answered(args.url, args.warmup, ask)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", required=True, help="app_name: units <app>.service, <app>-next@<id>.service")
    parser.add_argument("--root", required=True, help="app_root: releases/ and current live there")
    parser.add_argument("--release", required=True, help="id of the release whose candidate passed the gate")
    parser.add_argument("--url", action="append", required=True, help="page checked through nginx (repeatable)")
    parser.add_argument("--host", required=True, help="Host header of the checks (the site's name)")
    parser.add_argument("--within", type=float, default=10, help="seconds a check may take to pass")
    parser.add_argument("--warmup", type=float, default=30, help="seconds the restarted live instance may take")
    parser.add_argument(
        "--warm", type=int, default=16, help="requests sent at once to a new instance before nginx sends it users"
    )
    parser.add_argument("--drain-timeout", type=float, default=60, help="seconds for nginx's old workers")
    parser.add_argument("--record", required=True, help="JSON file recording the switch")
    parser.add_argument("--mark-failed", action="store_true", help="mark the release failed when the switch fails")
    args = parser.parse_args(argv)

    record = {"app": args.app, "release": args.release, "started_at": now(), "phase": "starting", "reason": None}

    def save(phase):
        record.update(phase=phase, updated_at=now())
        write_atomic(args.record, json.dumps(record, sort_keys=True) + "\n")

    try:
        result, reason = switch(args, record, save)
    except Exception as exc:  # noqa: BLE001 (recorded, and the host is pointed back at its live instance)
        result, reason = "error", "%s: %s" % (type(exc).__name__, exc)
        try:
            point(upstream_file(args.app), app_socket(args.app), args.drain_timeout)
        except Exception as again:  # noqa: BLE001
            reason += "; pointing nginx back failed too: %s" % again
    candidate = "%s-next@%s" % (args.app, args.release)
    subprocess.run(["systemctl", "stop", candidate + ".service", candidate + ".socket"], check=False)
    record["reason"] = reason
    record["finished_at"] = now()
    current = os.path.join(args.root, "current")
    record["live"] = os.path.basename(os.readlink(current)) if os.path.islink(current) else None
    save(result)
    print(json.dumps(record, sort_keys=True))
    return 0 if result == "switched" else 1


if __name__ == "__main__":
    sys.exit(main())
