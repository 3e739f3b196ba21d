"""Item 5 of issue 12: warning tiers against real states on the controller.

Disk: a size-limited tmpfs at the checked path, filled to a known level, compared with df.
TLS: a loopback TLS server whose certificate expires inside warn_days, then inside min_days.
"""

import datetime
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.deps import SystemDeps
from ansible_collections.vitals.django.plugins.module_utils.health.runner import run_checks
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MIB = 1024 * 1024


def one(item):
    return run_checks(validate_config([item]), SystemDeps())["checks"][0]


@pytest.fixture
def tmpfs():
    if os.geteuid() != 0:
        pytest.fail("needs root to mount a tmpfs")
    path = Path(tempfile.mkdtemp(prefix="vitals-health-tmpfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)
        path.rmdir()


def fill(path, mib):
    (path / "fill").write_bytes(b"\0" * (mib * MIB))


def df_percent_used(path):
    out = subprocess.run(["df", "--output=pcent", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.splitlines()[1].strip().rstrip("%"))


@pytest.mark.parametrize(("mib", "status"), [(0, "ok"), (13, "warning"), (15, "critical"), (0, "ok")])
def test_disk_under_the_warning_and_the_minimum_compared_with_df(tmpfs, mib, status):
    fill(tmpfs, mib)
    result = one({"name": "d", "disk": {"path": str(tmpfs), "warn_free": "20%", "min_free": "10%"}})
    assert result["status"] == status, result
    # df rounds Use% up; the check's used share is the same figure before rounding.
    assert abs(result["details"]["used_percent"] - df_percent_used(tmpfs)) < 1
    assert result["details"]["free_bytes"] == shutil.disk_usage(tmpfs).free
    if status != "ok":
        assert result["stopped"] == ("warning" if status == "warning" else "definitive")


def serve_tls(days_left):
    """A TLS server on loopback with a self-signed certificate expiring in `days_left` days -> port."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days_left))
        .sign(key, hashes.SHA256())
    )
    work = Path(tempfile.mkdtemp(prefix="vitals-health-tls-"))
    (work / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (work / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(work / "cert.pem", work / "key.pem")
    shutil.rmtree(work)
    listener = socket.create_server(("127.0.0.1", 0))

    def accept():
        while True:
            try:
                conn, _address = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    threading.Thread(target=accept, daemon=True).start()
    return listener


@pytest.mark.parametrize(
    ("days", "status", "message"),
    [
        (45, "ok", "certificate valid for"),
        (13, "warning", "renew before 30"),
        (5, "critical", "minimum 7"),
    ],
)
def test_a_certificate_inside_warn_days_then_inside_min_days(days, status, message):
    listener = serve_tls(days)
    try:
        port = listener.getsockname()[1]
        item = {"name": "tls", "tls": {"host": "127.0.0.1", "port": port, "validate_certs": False}}
        result = one(item)
    finally:
        listener.close()
    assert result["status"] == status, result
    assert message in result["message"]
    assert days - 1 < result["details"]["days_left"] <= days
