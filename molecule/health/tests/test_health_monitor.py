"""The health_monitor role on a real host: command, config, endpoint, hardening, and the module against it."""

import json

EXPOSURE_LIMIT = 2.0


def test_packages_for_the_checks(host):
    for package in ("python3-requests", "python3-psycopg2", "python3-yaml", "python3-cryptography"):
        assert host.package(package).is_installed


def test_config_is_private_to_root_and_the_endpoint(host):
    config = host.file("/etc/vitals/health.yml")
    assert (config.user, config.group, config.mode) == ("root", "vitals-health", 0o640)
    assert "name: sshd" in config.content_string


def test_command_nagios_line_and_exit_code(host):
    result = host.run("/usr/local/bin/vitals-health --format nagios")
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.startswith("HEALTH OK - All 4 health checks passed | ok=4;;;0;4")


def test_command_exits_critical_on_a_failing_check(host):
    host.run("printf 'checks: [{name: closed, tcp: {host: 127.0.0.1, port: 1}}]' > /root/fail.yml")
    result = host.run("/usr/local/bin/vitals-health --config /root/fail.yml --format json")
    assert result.rc == 2
    assert json.loads(result.stdout)["checks"][0]["message"] == "127.0.0.1:1: Connection refused"
    bad = host.run("/usr/local/bin/vitals-health --config /root/fail.yml --check-config --only nothing")
    assert bad.rc == 3


def test_endpoint_is_socket_activated_on_loopback(host):
    socket = host.service("vitals-health.socket")
    assert socket.is_running
    assert socket.is_enabled
    assert host.socket("tcp://127.0.0.1:9105").is_listening
    assert not host.socket("tcp://0.0.0.0:9105").is_listening


def test_endpoint_exposure(host):
    # The service must have run once for systemd-analyze to see its settings in full.
    host.run("python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:9105/\").read()'")
    out = host.check_output("systemd-analyze security --no-pager vitals-health.service | tail -1")
    exposure = float(out.split("exposure level for vitals-health.service:")[1].split()[0])
    assert exposure <= EXPOSURE_LIMIT, out


def test_deploy_gate_module_checks_the_endpoint(host):
    """The collection's own health module verifies the endpoint (JSON, Prometheus) and the command."""
    args = {
        "within": 10,
        "delay": 1,
        "checks": [
            {"name": "json", "http": {"url": "http://127.0.0.1:9105/", "json": {"status": "ok", "summary.total": 4}}},
            {
                "name": "metrics",
                "http": {
                    "url": "http://127.0.0.1:9105/metrics",
                    "body_regex": 'vitals_health_check_status{check="sshd",type="systemd"} 0',
                    "expect_headers": {"Content-Type": r"^text/plain; version=0\.0\.4"},
                },
            },
            {"name": "socket", "systemd": {"unit": "vitals-health.socket", "enabled": True}},
            {"name": "service", "systemd": {"unit": "vitals-health.service"}},
        ],
    }
    result = host.ansible("vitals.django.health", json.dumps(args), check=False)
    assert result.get("failed") is not True, result
    assert result["summary"]["ok"] == 4, result
    assert result["changed"] is False
