"""Real servers on loopback for the health module: an HTTP app, PostgreSQL 15, a closed port.

The module runs through ansible-playbook against localhost (connection local) with Debian's
python3, like on a host: python3-requests and python3-psycopg2 come from `make host-packages`.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# The check library itself, for tests that run it directly against the loopback servers.
sys.path.insert(0, str(REPO / ".collections"))
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PASSWORD = "Pg-Integration-Secret-9"
MONITOR_PASSWORD = "Monitor-Secret-7"
HOST_PYTHON = "/usr/bin/python3"
DJANGO_SECRET = "django-insecure-integration-secret-key-0123456789-abcdefghijklmnop"


class App(BaseHTTPRequestHandler):
    """/ok, /500, /slow (1.5 s), /wrong-body, /json, /static.css (cache headers), /flaky (503 twice, then 200)."""

    hits = []
    flaky_left = 0

    def do_GET(self):  # noqa: N802 - name fixed by http.server
        App.hits.append((self.path, self.headers.get("Host")))
        status, headers, body = 200, {"Content-Type": "text/plain"}, "welcome"
        if self.path == "/ok":
            if self.headers.get("Host") != "www.example.com":
                status, body = 400, "Bad Request (400): invalid HTTP_HOST header"  # like Django's ALLOWED_HOSTS
        elif self.path == "/500":
            status, body = 500, "Server Error (500)"
        elif self.path == "/slow":
            time.sleep(1.5)
        elif self.path == "/wrong-body":
            body = "maintenance"
        elif self.path == "/json":
            headers["Content-Type"] = "application/json"
            body = json.dumps({"status": "ok", "db": {"ok": True, "latency_ms": 3}})
        elif self.path == "/static.css":
            headers["Cache-Control"] = "public, max-age=2592000, immutable"
        elif self.path == "/flaky":
            if App.flaky_left > 0:
                App.flaky_left -= 1
                status = 503
        else:
            status = 404
        data = body.encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), App)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_hits():
    App.hits.clear()
    return App.hits


@pytest.fixture
def flaky():
    """Set how many times /flaky answers 503 before 200."""

    def arm(failures):
        App.flaky_left = failures

    yield arm
    App.flaky_left = 0


@pytest.fixture(scope="session")
def pg_superuser_password():
    return PG_PASSWORD


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def closed_port():
    return free_port()


def _as_postgres(*argv, **kwargs):
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, text=True, **kwargs
    )


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL 15 cluster on 127.0.0.1:<free port>, with a read-only login `monitor`."""
    if not (PG_BIN / "initdb").exists() or os.geteuid() != 0:
        pytest.fail("needs root and PostgreSQL 15 on the controller (make host-packages)")
    base = Path(tempfile.mkdtemp(prefix="vitals-health-pg-"))
    shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", free_port()
    pwfile = base / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    shutil.chown(pwfile, "postgres", "postgres")
    _as_postgres(
        str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256", "--pwfile", str(pwfile)
    )
    opts = "-p %d -k %s -c listen_addresses=127.0.0.1" % (port, base)
    _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start")
    try:
        env = dict(os.environ, PGPASSWORD=PG_PASSWORD)
        sql = "CREATE ROLE monitor LOGIN PASSWORD '%s'; CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2);"
        _as_postgres(
            str(PG_BIN / "psql"),
            "-h",
            str(base),
            "-p",
            str(port),
            "-U",
            "postgres",
            "-c",
            sql % MONITOR_PASSWORD,
            env=env,
        )
        yield {"host": "127.0.0.1", "port": port, "user": "monitor", "password": MONITOR_PASSWORD, "dbname": "postgres"}
    finally:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


class PlaybookRun:
    def __init__(self, proc, elapsed):
        self.rc, self.stdout, self.stderr, self.elapsed = proc.returncode, proc.stdout, proc.stderr, elapsed

    def task_result(self):
        """The health task's result from the ansible.posix.json callback."""
        doc = json.loads(self.stdout)
        return doc["plays"][0]["tasks"][-1]["hosts"]["localhost"]


@pytest.fixture(scope="session")
def playbook(tmp_path_factory):
    """Run tasks on localhost with ansible-playbook; json=True selects the JSON callback."""
    work = tmp_path_factory.mktemp("playbooks")
    inventory = work / "hosts.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % HOST_PYTHON)

    def run(tasks, json_output=True, extra_args=()):
        path = work / ("play-%d.yml" % time.monotonic_ns())
        path.write_text(json.dumps([{"name": "Health", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        if json_output:
            env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        started = time.monotonic()
        proc = subprocess.run(
            [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(path), *extra_args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return PlaybookRun(proc, time.monotonic() - started)

    return run


@pytest.fixture(scope="session")
def django_release():
    """The example project (examples/demo) as a release: its own venv from the pinned requirements, an env file."""
    base = Path(tempfile.mkdtemp(prefix="vitals-health-django-"))
    release = base / "release"
    shutil.copytree(REPO / "examples/demo", release, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3"))
    subprocess.run([HOST_PYTHON, "-m", "venv", str(release / "venv")], check=True)
    pip = [str(release / "venv/bin/pip"), "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(release / "requirements.txt")], check=True)
    env_file = base / "env"
    env_file.write_text("SECRET_KEY='%s'\nDJANGO_SETTINGS_MODULE=config.settings\nDEBUG=0\n" % DJANGO_SECRET)
    env_file.chmod(0o600)
    # Readable by the unprivileged user the check runs as; the env file stays root's (the module reads it).
    for path in (base, *release.rglob("*"), release):
        if path.is_dir():
            path.chmod(0o755)
    try:
        yield {"release": str(release), "env_file": str(env_file), "secret": DJANGO_SECRET}
    finally:
        shutil.rmtree(base, ignore_errors=True)
