"""The all-in-one stack after converge: what a user of `make demo` gets (security: shared/security)."""

import json

from probe import fetch


def test_services_run_and_start_at_boot(host):
    for unit in ("nginx.service", "postgresql.service", "cron.service", "demo.socket", "vitals-health.socket"):
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit


def test_gunicorn_starts_on_the_first_request(host):
    status, _location, body = fetch(host, "https://127.0.0.1/")
    assert status == 200
    assert "Items:" in body
    assert host.service("demo.service").is_running


def test_http_redirects_to_https(host):
    status, location, _body = fetch(host, "http://127.0.0.1/")
    assert (status, location) == (301, "https://sandbox.test/")


def test_current_points_at_a_live_release(host):
    current = host.file("/srv/demo/current")
    assert current.is_symlink
    state = json.loads(host.file(current.linked_to + "/release.json").content_string)
    assert state["status"] == "live"


def test_health_command_reports_ok(host):
    out = host.run("/usr/local/bin/vitals-health --format json")
    assert out.rc == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["status"] == "ok"


def test_health_endpoint_checks_the_stack(host):
    """The monitor (unprivileged, sandboxed) runs verify's checks but the root-only and secret ones."""
    status, _location, body = fetch(host, "http://127.0.0.1:9105/")
    report = json.loads(body)
    assert (status, report["status"]) == (200, "ok"), report["msg"]
    names = {check["name"] for check in report["checks"]}
    assert {"postgresql", "home-page", "static-files", "gunicorn-service", "tls-certificate"} <= names, names
    assert not names & {"django", "database"}, names
    assert "password" not in host.file("/etc/vitals/health.yml").content_string


def test_cron_jobs_are_tracked(host):
    crontab = host.file("/etc/cron.d/vitals-demo")
    assert crontab.exists
    assert "/usr/local/bin/vitals-cron" in crontab.content_string


def test_host_is_real_systemd_debian(host):
    assert host.check_output("systemctl is-system-running") == "running"
    assert host.system_info.distribution == "debian"
