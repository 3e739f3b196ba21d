# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real I/O behind the checks. Unit tests replace this object with a fake."""

import hashlib
import os
import pwd
import re
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .checks import MissingLibrary, ProbeError

try:
    import requests
    import urllib3

    # verify=False is an explicit choice of the check; its per-request warning is noise.
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    HAS_REQUESTS, REQUESTS_ERROR = True, None
except ImportError as exc:
    HAS_REQUESTS, REQUESTS_ERROR = False, exc

try:
    import psycopg2 as pg_driver

    HAS_PG, PG_ERROR = True, None
except ImportError:
    try:
        import psycopg as pg_driver  # psycopg 3 keeps the same connect() keywords

        HAS_PG, PG_ERROR = True, None
    except ImportError as exc:
        pg_driver, HAS_PG, PG_ERROR = None, False, exc


ERRNO_RE = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def install_hint(library, package):
    return "the Python library %s is not installed for %s (Debian: apt-get install %s)" % (library, "python3", package)


def root_cause(exc):
    """The innermost reason of a requests/urllib3 error chain ('[Errno 111] Connection refused')."""
    match = ERRNO_RE.search(str(exc))
    return match.group(0) if match else str(exc)


@dataclass
class HttpResponse:
    status: int
    headers: dict
    text: str
    elapsed: float


class SystemDeps:
    """Sockets, HTTP, PostgreSQL, files and processes of the machine the checks run on.

    `missing_lib` turns (library, Debian package) into the message of an `unknown` result;
    the Ansible module passes one built on missing_required_lib().
    """

    def __init__(self, missing_lib=install_hint):
        self.missing_lib = missing_lib

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    @staticmethod
    def now():
        return datetime.now(UTC)

    def http(self, method, url, *, headers, timeout, verify, allow_redirects):
        if not HAS_REQUESTS:
            raise MissingLibrary(self.missing_lib("requests", "python3-requests"))
        started = time.monotonic()
        try:
            with requests.Session() as session:
                session.trust_env = False  # probes go straight to the service, never via a proxy
                resp = session.request(
                    method, url, headers=headers, timeout=timeout, verify=verify, allow_redirects=allow_redirects
                )
        except requests.exceptions.Timeout:
            raise ProbeError("no answer from %s within %g s" % (url, timeout)) from None
        except requests.exceptions.SSLError as exc:
            raise ProbeError("TLS error from %s: %s" % (url, exc)) from None
        except requests.exceptions.RequestException as exc:
            raise ProbeError("cannot reach %s: %s" % (url, root_cause(exc))) from None
        return HttpResponse(resp.status_code, dict(resp.headers), resp.text, time.monotonic() - started)

    @staticmethod
    def tcp(host, port, timeout, read_banner):
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                if not read_banner:
                    return None
                return sock.recv(1024).decode("utf-8", "replace").strip()
        except TimeoutError:
            raise ProbeError("%s:%d: no answer within %g s" % (host, port, timeout)) from None
        except OSError as exc:
            raise ProbeError("%s:%d: %s" % (host, port, exc.strerror or exc)) from None

    def pg_query(self, conn, query, timeout):
        if not HAS_PG:
            raise MissingLibrary(self.missing_lib("psycopg2", "python3-psycopg2"))
        # A read-only transaction: the check needs, and uses, no write permission.
        options = "-c default_transaction_read_only=on -c statement_timeout=%d" % (timeout * 1000)
        try:
            connection = pg_driver.connect(connect_timeout=max(1, int(timeout)), options=options, **conn)
        except pg_driver.Error as exc:
            raise ProbeError("cannot connect: %s" % str(exc).strip().splitlines()[0]) from None
        try:
            with connection.cursor() as cursor:
                cursor.execute(query)
                row = cursor.fetchone()
            connection.rollback()
        except pg_driver.Error as exc:
            raise ProbeError("query failed: %s" % str(exc).strip().splitlines()[0]) from None
        finally:
            connection.close()
        return row[0] if row else None

    statvfs = staticmethod(os.statvfs)
    listdir = staticmethod(os.listdir)

    @staticmethod
    def file_size(path):
        return os.stat(path).st_size

    @staticmethod
    def read_text(path):
        with open(path, encoding="utf-8") as handle:
            return handle.read()

    @staticmethod
    def sha256(path):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    @staticmethod
    def run(argv, timeout, cwd=None, env=None, user=None):
        kwargs = {}
        if user:
            try:
                account = pwd.getpwnam(user)
            except KeyError:
                raise ProbeError("no such user %s" % user) from None
            kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            if env is not None:
                env = dict(env, HOME=account.pw_dir, USER=user)
        try:
            proc = subprocess.run(
                argv, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False, **kwargs
            )
        except subprocess.TimeoutExpired:
            raise ProbeError("%s did not finish within %g s" % (argv[0], timeout)) from None
        except OSError as exc:
            raise ProbeError("cannot run %s: %s" % (argv[0], exc.strerror or exc)) from None
        return proc.returncode, proc.stdout, proc.stderr

    def systemd_show(self, unit, timeout):
        props = ("LoadState", "ActiveState", "SubState", "Result", "UnitFileState", "NRestarts", "ActiveEnterTimestamp")
        argv = ["systemctl", "show", "--timestamp=unix", unit, *("--property=%s" % p for p in props)]
        rc, out, err = self.run(argv, timeout=timeout)
        if rc != 0:
            raise ProbeError("systemctl show %s: %s" % (unit, err.strip()))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    @staticmethod
    def tls_not_after(host, port, *, server_name, timeout, verify, ca_path):
        context = ssl.create_default_context(cafile=ca_path)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            with (
                socket.create_connection((host, port), timeout=timeout) as raw,
                context.wrap_socket(raw, server_hostname=server_name) as sock,
            ):
                der = sock.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as exc:
            raise ProbeError("TLS %s:%d: %s" % (host, port, exc)) from None
        # The stdlib decodes a certificate only from a file, and only if verified unless asked this way.
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
            pem.write(ssl.DER_cert_to_PEM_cert(der))
            pem.flush()
            decoded = ssl._ssl._test_decode_cert(pem.name)  # pylint: disable=protected-access
        return datetime.fromtimestamp(ssl.cert_time_to_seconds(decoded["notAfter"]), UTC)

    @staticmethod
    def smtp(host, port, timeout, ehlo_name, ehlo):
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                reader = sock.makefile("rb")
                banner = _smtp_reply(reader)
                answer = None
                if ehlo:
                    sock.sendall(b"EHLO %s\r\n" % ehlo_name.encode())
                    answer = _smtp_reply(reader)
                sock.sendall(b"QUIT\r\n")
        except OSError as exc:
            raise ProbeError("SMTP %s:%d: %s" % (host, port, exc.strerror or exc)) from None
        return banner, answer


def _smtp_reply(reader):
    """Read one (possibly multi-line: '250-...') SMTP reply."""
    lines = []
    while True:
        line = reader.readline(1024).decode("utf-8", "replace").rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return "\n".join(lines)
