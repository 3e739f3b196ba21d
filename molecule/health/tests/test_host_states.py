"""Issue 12: host states the deploy gate and the monitor used to call green, on a real systemd host.

Each state is made on the test host, checked with the module (verify's way: grace window 30 s)
and with vitals-health (the monitor's command), then undone and checked green again.
"""

import json
import time

CRASHY = """[Unit]
Description=an app that crash-loops (issue 12)
StartLimitIntervalSec=0
[Service]
ExecStart=/bin/sh -c 'sleep 1.5; exit 1'
Restart=always
RestartSec=1
"""
STEADY = CRASHY.replace("sleep 1.5; exit 1", "exec sleep infinity").replace("crash-loops", "runs")


def gate(host, checks):
    """The module as verify.yml runs it (30 s window); (result, wall seconds)."""
    started = time.monotonic()
    result = host.ansible("vitals.django.health", json.dumps({"within": 30, "delay": 2, "checks": checks}), check=False)
    return result, time.monotonic() - started


def monitor(host, checks):
    """vitals-health as the endpoint's unprivileged user; (exit code, results by name)."""
    host.run_test(
        "printf '%%s' %s > /tmp/vf-states.json && chmod 0644 /tmp/vf-states.json"
        % json.dumps(json.dumps({"checks": checks}))
    )
    out = host.run(
        "runuser -u vitals-health -- /usr/local/bin/vitals-health --config /tmp/vf-states.json --format json"
    )
    return out.rc, {r["name"]: r for r in json.loads(out.stdout)["checks"]} if out.stdout.startswith("{") else out


def install_unit(host, text):
    # json.dumps quotes for the shell; printf %b turns its escaped newlines back into newlines.
    host.run_test("printf '%%b' %s > /etc/systemd/system/vf-app.service" % json.dumps(text))
    host.run_test("systemctl daemon-reload")
    host.run_test("systemctl restart vf-app.service")


def test_a_crash_looping_service_is_critical_within_seconds_then_green(host):
    install_unit(host, CRASHY)
    checks = [{"name": "app-service", "systemd": {"unit": "vf-app.service"}}]
    try:
        time.sleep(4)  # a few restarts
        result, elapsed = gate(host, checks)
        # testinfra hands back the module's result without Ansible's `failed`: its status says it.
        assert (result["status"], result["code"]) == ("critical", 2), result
        check = result["checks"][0]
        assert check["status"] == "critical"
        assert check["stopped"] == "definitive"
        assert any(
            cause in check["message"] for cause in ("auto-restart", "restarted while observed", "main process changed")
        ), check
        assert elapsed < 15, "the gate took %.1f s" % elapsed
        install_unit(host, STEADY)
        result, _elapsed = gate(host, checks)
        assert result["status"] == "ok", result
        assert result["checks"][0]["message"] == "vf-app.service is active, stable for 2 s"
    finally:
        host.run("systemctl stop vf-app.service; rm -f /etc/systemd/system/vf-app.service; systemctl daemon-reload")


def test_the_cluster_stopped_under_an_active_wrapper_is_critical_then_green(host):
    assert host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql").rc == 0
    version = host.check_output("ls /etc/postgresql").split()[0]
    cluster = "postgresql@%s-main.service" % version
    checks = [
        {"name": "postgresql", "systemd": {"unit": cluster}},
        {"name": "postgresql-service", "systemd": {"unit": "postgresql.service", "observe": 0}},
        {"name": "postgresql-port", "unit": cluster, "tcp": {"host": "127.0.0.1", "port": 5432}},
    ]
    host.run_test("systemctl stop %s" % cluster)
    try:
        assert host.service("postgresql.service").is_running  # Debian's wrapper stays active
        result, elapsed = gate(host, checks)
        assert result["status"] == "critical", result
        by_name = {c["name"]: c for c in result["checks"]}
        assert by_name["postgresql-service"]["status"] == "ok"  # what the old check looked at
        assert by_name["postgresql"]["status"] == "critical"
        assert by_name["postgresql-port"]["stopped"] == "unit-down"
        assert "%s is inactive" % cluster in by_name["postgresql-port"]["message"]
        assert elapsed < 15, "the port check was retried through the window: %.1f s" % elapsed
        rc, seen = monitor(host, checks)
        assert (rc, seen["postgresql"]["status"]) == (2, "critical")
    finally:
        host.run_test("systemctl start %s" % cluster)
    result, _elapsed = gate(host, checks)
    assert result["status"] == "ok", result
    rc, _seen = monitor(host, checks)
    assert rc == 0
