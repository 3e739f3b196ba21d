# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`vitals-health`: the module's checks from a shell, Nagios, cron, or as a loopback HTTP endpoint.

    vitals-health [--config FILE] [--format human|json|nagios|prometheus] [--only NAME ...]
    vitals-health [--config FILE] serve [--listen 127.0.0.1:9105] [--cache-ttl 10]
    vitals-health --config FILE --check-config

The exit code is the Nagios code of the overall status (0 ok, 1 warning, 2 critical, 3 unknown);
a usage error or a bad configuration exits 3, UNKNOWN, as the Nagios plugin guidelines ask
(--check-config: 0 when valid, before anything runs).
`serve` answers GET / (JSON, 200, or 503 when the checks fail) and GET /metrics (Prometheus
text), and takes its listening socket from systemd when socket-activated.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import __version__
from .deps import SystemDeps
from .output import FORMATS, format_json, format_prometheus
from .runner import run_checks
from .schema import ValidationError, validate_config

try:
    import yaml

    HAS_YAML = True
except ImportError:
    HAS_YAML = False

DEFAULT_CONFIG = "/etc/vitals/health.yml"
SD_LISTEN_FDS_START = 3
CONFIG_KEYS = ("checks", "within", "delay", "concurrency", "fail_on_unknown")


class ConfigError(Exception):
    pass


def _parse(text):
    if HAS_YAML:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError("cannot parse YAML: %s" % exc) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError("cannot parse (JSON; install python3-yaml for YAML): %s" % exc) from None


def parse_config(text, only=()):
    """File content (YAML, or JSON without python3-yaml) -> schema.Config. A bare list is the check list."""
    data = _parse(text)
    if isinstance(data, list):
        data = {"checks": data}
    if not isinstance(data, dict):
        raise ConfigError("must be a mapping with 'checks' or a list of checks")
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError("unknown keys %s (allowed: %s)" % (", ".join(unknown), ", ".join(CONFIG_KEYS)))
    if only:
        data["checks"] = [c for c in data.get("checks") or [] if isinstance(c, dict) and c.get("name") in only]
    try:
        return validate_config(**data)
    except ValidationError as exc:
        raise ConfigError(str(exc)) from None


def load_config(path, only=()):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError("cannot read %s: %s" % (path, exc.strerror)) from None
    try:
        return parse_config(text, only)
    except ConfigError as exc:
        raise ConfigError("%s: %s" % (path, exc)) from None


class CachedReport:
    """Runs the checks at most once per `ttl` seconds, however many clients ask (one run at a time)."""

    def __init__(self, config, deps, ttl, clock=time.monotonic):
        self.config, self.deps, self.ttl, self.clock = config, deps, ttl, clock
        self.lock = threading.Lock()
        self.report, self.taken = None, None

    def get(self):
        with self.lock:
            if self.report is None or self.clock() - self.taken >= self.ttl:
                self.report = run_checks(self.config, self.deps)
                self.taken = self.clock()
            return self.report


def respond(path, cache):
    """Request path -> (status code, content type, body)."""
    route = path.split("?", 1)[0].rstrip("/") or "/"
    if route in ("/", "/health"):
        report = cache.get()
        return (503 if report["failed"] else 200), "application/json", format_json(report)
    if route == "/metrics":
        return 200, "text/plain; version=0.0.4; charset=utf-8", format_prometheus(cache.get())
    return 404, "text/plain; charset=utf-8", "not found; try / or /metrics\n"


def make_handler(cache):
    class Handler(BaseHTTPRequestHandler):
        server_version = "vitals-health"
        sys_version = ""

        def do_GET(self):  # noqa: N802 - name fixed by http.server
            code, ctype, body = respond(self.path, cache)
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    return Handler


def listening_socket(listen, environ=None):
    """systemd's socket (LISTEN_FDS, sd_listen_fds(3)) when activated, else a new one bound to `listen`."""
    environ = os.environ if environ is None else environ
    if environ.get("LISTEN_PID") == str(os.getpid()) and int(environ.get("LISTEN_FDS", "0")) >= 1:
        return socket.socket(fileno=SD_LISTEN_FDS_START)
    host, port = listen.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), int(port)))
    sock.listen(16)
    return sock


def serve(config, deps, listen, ttl):
    sock = listening_socket(listen)
    server = ThreadingHTTPServer(sock.getsockname()[:2], make_handler(CachedReport(config, deps, ttl)), False)
    server.socket.close()
    server.socket = sock
    server.daemon_threads = True
    sys.stderr.write("vitals-health serving %d checks on %s:%d\n" % ((len(config.checks),) + sock.getsockname()[:2]))
    server.serve_forever()


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error, which Nagios reads as CRITICAL: raise instead, for UNKNOWN (3)."""

    def error(self, message):
        raise UsageError(message)


def build_parser():
    parser = Parser(prog="vitals-health", description="Run the vitals.django health checks.")
    parser.add_argument("--version", action="version", version="vitals-health %s" % __version__)
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="check list, YAML (default %(default)s)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="human", help="report format (default human)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this check (repeatable)")
    parser.add_argument("--check-config", action="store_true", help="validate the configuration only, run nothing")
    sub = parser.add_subparsers(dest="command")
    srv = sub.add_parser("serve", help="answer GET / (JSON) and /metrics (Prometheus) over HTTP")
    srv.add_argument("--listen", default="127.0.0.1:9105", help="address:port without socket activation")
    srv.add_argument("--cache-ttl", type=float, default=10.0, help="seconds a report is reused (default 10)")
    return parser


def main(argv=None, deps=None, out=sys.stdout):
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        out.write("HEALTH UNKNOWN - usage error: %s (see vitals-health --help)\n" % exc)
        return 3
    try:
        config = load_config(args.config, () if args.command == "serve" else args.only)
    except ConfigError as exc:
        out.write("HEALTH UNKNOWN - bad configuration: %s\n" % exc)
        return 3
    if args.check_config:
        out.write("configuration OK: %d checks\n" % len(config.checks))
        return 0
    deps = deps or SystemDeps()
    if args.command == "serve":
        serve(config, deps, args.listen, args.cache_ttl)
        return 0
    report = run_checks(config, deps)
    out.write(FORMATS[args.format](report))
    return report["code"]
