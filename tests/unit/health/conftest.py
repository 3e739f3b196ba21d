"""Fakes for the I/O behind the checks."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.deps import HttpResponse

NOW = datetime(2026, 11, 23, 19, 0, 0, tzinfo=UTC)


class FakeDeps:
    """Records calls; each I/O method returns what the test put in its attribute (or raises it)."""

    def __init__(self):
        self.calls = []
        self.clock = 0.0
        self.http_response = HttpResponse(200, {"Content-Type": "text/html"}, "hello", 0.01)
        self.files = {}
        self.dirs = {}
        self.sizes = {}
        self.mtimes = {}
        self.hashes = {}
        self.commands = {}
        self.systemd = {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled"}
        # Successive systemctl samples per unit (the last one repeats); `systemd` when a unit has none.
        self.samples = {}
        self.pg_value = 1
        self.banner = "SSH-2.0-OpenSSH_9.2"
        self.statvfs_result = SimpleNamespace(
            f_frsize=4096, f_blocks=1000, f_bfree=500, f_bavail=500, f_files=100, f_favail=50
        )
        self.not_after = datetime(2027, 1, 1, tzinfo=UTC)
        self.smtp_answer = ("220 mail ESMTP", "250-mail\n250 SIZE")

    @staticmethod
    def _give(value):
        if isinstance(value, Exception):
            raise value
        return value

    def now(self):
        return NOW

    def monotonic(self):
        return self.clock

    def sleep(self, seconds):
        self.clock += seconds

    def http(self, method, url, **kwargs):
        self.calls.append(("http", method, url, kwargs))
        return self._give(self.http_response)

    def tcp(self, host, port, timeout, read_banner):
        self.calls.append(("tcp", host, port))
        return self._give(self.banner if read_banner else None)

    def pg_query(self, conn, query, timeout, write=False):
        self.calls.append(("pg", conn, query, write))
        return self._give(self.pg_value)

    def statvfs(self, path):
        return self.statvfs_result

    def systemd_show(self, unit, timeout):
        self.calls.append(("systemd", unit))
        samples = self.samples.get(unit)
        if samples:
            return self._give(samples.pop(0) if len(samples) > 1 else samples[0])
        return self._give(self.systemd)

    def read_text(self, path):
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]

    def listdir(self, path):
        if path not in self.dirs:
            raise FileNotFoundError(path)
        return list(self.dirs[path])

    def mtime(self, path):
        if path not in self.mtimes:
            raise FileNotFoundError(path)
        return self.mtimes[path]

    def file_size(self, path):
        return self.sizes[path]

    def sha256(self, path):
        return self.hashes[path]

    @staticmethod
    def token():
        return "0123abcd"

    def run(self, argv, timeout, cwd=None, env=None, user=None, *, umask=None):
        self.calls.append(("run", argv, cwd, env, user) + (() if umask is None else (umask,)))
        for key, result in self.commands.items():
            if key in " ".join(argv):
                return self._give(result)
        return 0, "", ""

    def tls_not_after(self, host, port, **kwargs):
        return self._give(self.not_after)

    def smtp(self, host, port, **kwargs):
        return self._give(self.smtp_answer)


@pytest.fixture
def deps():
    return FakeDeps()
