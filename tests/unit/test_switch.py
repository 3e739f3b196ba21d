"""The host-side switch command's check through nginx (roles/rollout/files/switch.py), against a
real HTTP server on loopback standing in for the host's nginx."""

import contextlib
import importlib.util
import pathlib
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[2] / "roles" / "rollout" / "files" / "switch.py"
_SPEC = importlib.util.spec_from_file_location("switch", _PATH)
switch = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(switch)

NEXT = "/run/demo/next.sock"
LIVE = "/run/demo/gunicorn.sock"


@pytest.fixture
def nginx():
    """A server answering with the status and instance in `answers` (the last one repeats)."""
    answers = []
    hosts = []

    class _Nginx(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hosts.append(self.headers["Host"])
            status, instance = answers[0] if len(answers) == 1 else answers.pop(0)
            self.send_response(status)
            self.send_header("X-Vitals-Upstream", "unix:" + instance)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Nginx)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/", answers, hosts
    httpd.shutdown()
    httpd.server_close()


def test_a_page_answered_by_the_instance_passes_with_the_site_host(nginx):
    url, answers, hosts = nginx
    answers.append((200, NEXT))
    assert switch.check([url, url + "ht/"], "rolling.test", NEXT, within=1) is None
    assert hosts == ["rolling.test", "rolling.test"]


def test_answers_from_the_other_instance_are_waited_out(nginx):
    # An old nginx worker still sends to the live instance just after the reload.
    url, answers, _hosts = nginx
    answers.extend([(200, LIVE), (200, LIVE), (200, NEXT)])
    assert switch.check([url], "rolling.test", NEXT, within=5) is None


def test_an_error_from_the_instance_is_final_at_once(nginx):
    url, answers, _hosts = nginx
    answers.append((500, NEXT))
    start = time.monotonic()
    problem = switch.check([url], "rolling.test", NEXT, within=30)
    assert problem == f"{url} answered 500"
    assert time.monotonic() - start < 5


def test_no_answer_from_the_instance_fails_after_the_window(nginx):
    url, answers, _hosts = nginx
    answers.append((200, LIVE))
    problem = switch.check([url], "rolling.test", NEXT, within=1)
    assert problem == f"{url} answered by 'unix:{LIVE}', not unix:{NEXT}"


@contextlib.contextmanager
def gunicorn(path, answer):
    """A stand-in for gunicorn on the unix socket path: answer(request) runs for each GET and
    returns the status."""

    class _Gunicorn(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(answer(self))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = socketserver.ThreadingUnixStreamServer(path, _Gunicorn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()


def test_the_live_instance_is_asked_on_its_socket_with_the_headers_nginx_sends(tmp_path):
    seen = []

    def answer(request):
        seen.append((request.path, request.headers["Host"], request.headers["X-Forwarded-Proto"]))
        return 200 if request.path == "/" else 500

    with gunicorn(str(tmp_path / "gunicorn.sock"), answer) as path:
        assert switch.get_direct(path, "https://127.0.0.1/", "rolling.test", timeout=5) == 200
        assert switch.get_direct(path, "https://127.0.0.1/ht/", "rolling.test", timeout=5) == 500
    assert seen == [("/", "rolling.test", "https"), ("/ht/", "rolling.test", "https")]


def test_warm_sends_every_request_at_once_on_the_socket(tmp_path):
    """The requests reach the instance together (each worker of a new instance gets one), over the
    URLs in turn, with the site's Host header; an instance that does not answer is not an error."""
    seen, together = [], threading.Barrier(4, timeout=5)

    def answer(request):
        seen.append((request.path, request.headers["Host"]))
        together.wait()  # breaks (and the test fails) unless all 4 arrive at once
        return 200

    with gunicorn(str(tmp_path / "next.sock"), answer) as path:
        switch.warm(path, ["https://127.0.0.1/", "https://127.0.0.1/ht/"], "rolling.test", 4)
    assert not together.broken
    assert sorted(seen) == [("/", "rolling.test")] * 2 + [("/ht/", "rolling.test")] * 2
    switch.warm(str(tmp_path / "gone.sock"), ["https://127.0.0.1/"], "rolling.test", 2)
