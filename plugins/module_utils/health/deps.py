# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real I/O behind the checks. Unit tests replace this object with a fake."""

import hashlib
import os
import pwd
import re
import secrets
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .checks import SYSTEMD_FIELDS, MissingLibrary, ProbeError

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


# The one-row table the postgresql role creates for the write probe (roles/postgresql/README.md).
WRITE_TABLE = "vitals.health_write"
WRITE_PROBE = "UPDATE %s SET written_at = now(), written_by = current_user" % WRITE_TABLE
# Connection failures that end when the server has finished (re)starting.
PG_TRANSIENT = ("connection refused", "starting up", "shutting down", "timeout expired", "no such file or directory")
try:
    from cryptography import x509

    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False

ERRNO_RE = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def install_hint(library, package):
    return "the Python library %s is not installed for %s (Debian: apt-get install %s)" % (library, "python3", package)


def root_cause(exc):
    """The innermost reason of a requests/urllib3 error chain ('[Errno 111] Connection refused')."""
    match = ERRNO_RE.search(str(exc))
    return match.group(0) if match else str(exc)


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _pg_transient(reason):
    return any(marker in reason.lower() for marker in PG_TRANSIENT)


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
            raise ProbeError("no answer from %s within %g s" % (url, timeout), transient=True) from None
        except requests.exceptions.SSLError as exc:
            raise ProbeError("TLS error from %s: %s" % (url, exc)) from None
        except requests.exceptions.ConnectionError as exc:
            raise ProbeError("cannot reach %s: %s" % (url, root_cause(exc)), transient=True) from None
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
            raise ProbeError("%s:%d: no answer within %g s" % (host, port, timeout), transient=True) from None
        except OSError as exc:
            raise ProbeError("%s:%d: %s" % (host, port, exc.strerror or exc), transient=True) from None

    def pg_query(self, conn, query, timeout, write=False):
        """Value of `query`; with `write`, then a committed UPDATE of the collection's own row.

        Without `write` the session is read-only: the check needs, and uses, no write permission.
        With it the session keeps the role's and the database's settings, so a read-only role,
        database or standby refuses the write as it refuses the app's.
        """
        if not HAS_PG:
            raise MissingLibrary(self.missing_lib("psycopg2", "python3-psycopg2"))
        options = "-c statement_timeout=%d" % (timeout * 1000)
        if not write:
            options += " -c default_transaction_read_only=on"
        try:
            connection = pg_driver.connect(connect_timeout=max(1, int(timeout)), options=options, **conn)
        except pg_driver.Error as exc:
            reason = _first_line(exc)
            raise ProbeError("cannot connect: %s" % reason, transient=_pg_transient(reason)) from None
        try:
            with connection.cursor() as cursor:
                cursor.execute(query)
                row = cursor.fetchone()
            connection.rollback()
        except pg_driver.Error as exc:
            connection.close()
            raise ProbeError("query failed: %s" % _first_line(exc)) from None
        try:
            if write:
                with connection.cursor() as cursor:
                    cursor.execute(WRITE_PROBE)
                    if cursor.rowcount != 1:
                        raise ProbeError("write refused: %s has %d rows, expected 1" % (WRITE_TABLE, cursor.rowcount))
                connection.commit()
        except pg_driver.Error as exc:
            raise ProbeError("write refused: %s" % _first_line(exc)) from None
        finally:
            connection.close()
        return row[0] if row else None

    statvfs = staticmethod(os.statvfs)
    listdir = staticmethod(os.listdir)

    @staticmethod
    def mtime(path):
        return os.stat(path).st_mtime

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
    def token():
        return secrets.token_hex(6)

    @staticmethod
    def run(argv, timeout, cwd=None, env=None, user=None, *, umask=None):
        kwargs = {} if umask is None else {"umask": umask}
        if user:
            try:
                account = pwd.getpwnam(user)
            except KeyError:
                raise ProbeError("no such user %s" % user) from None
            kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
            if env is not None:
                env = dict(env, HOME=account.pw_dir, USER=user)
        try:
            proc = subprocess.run(
                argv, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False, **kwargs
            )
        except subprocess.TimeoutExpired:
            raise ProbeError("%s did not finish within %g s" % (argv[0], timeout), transient=True) from None
        except OSError as exc:
            raise ProbeError("cannot run %s: %s" % (argv[0], exc.strerror or exc)) from None
        return proc.returncode, proc.stdout, proc.stderr

    def systemd_show(self, unit, timeout):
        props = (*SYSTEMD_FIELDS, "ActiveEnterTimestamp")
        argv = ["systemctl", "show", "--timestamp=unix", unit, *("--property=%s" % p for p in props)]
        rc, out, err = self.run(argv, timeout=timeout)
        if rc != 0:
            raise ProbeError("systemctl show %s: %s" % (unit, err.strip()))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def tls_not_after(self, host, port, *, server_name, timeout, verify, ca_path):
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
        if not HAS_CRYPTOGRAPHY:
            raise MissingLibrary(self.missing_lib("cryptography", "python3-cryptography"))
        # The certificate is decoded whether or not it was verified: its expiry is the question.
        cert = x509.load_der_x509_certificate(der)
        if hasattr(cert, "not_valid_after_utc"):
            return cert.not_valid_after_utc
        return cert.not_valid_after.replace(tzinfo=UTC)  # cryptography < 42 (Debian 12)

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
