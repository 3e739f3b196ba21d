"""Item 9 of issue 12: Nagios conventions, Prometheus gauges people alert on, a versioned JSON report."""

import io
import shutil
import subprocess

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health import __version__, cli
from ansible_collections.vitals.django.plugins.module_utils.health.output import format_json, format_prometheus
from ansible_collections.vitals.django.plugins.module_utils.health.runner import SCHEMA_VERSION, summarize


def result(name, ctype, details, status="ok"):
    return {
        "name": name,
        "type": ctype,
        "severity": "critical",
        "status": status,
        "message": "m",
        "stopped": "passed",
        "duration_ms": 1500.0,
        "attempts": 1,
        "details": details,
    }


REPORT = summarize(
    [
        result("tls-certificate", "tls", {"days_left": 12.5, "not_after": "2026-12-06T07:00:00Z"}, "warning"),
        result("app-disk", "disk", {"path": "/srv", "free_bytes": 1228800, "free_percent": 33.33}),
        result("gunicorn-service", "systemd", {"unit": "demo.service", "NRestarts": "22"}, "critical"),
        result("backup-db", "backup", {"newest": "db-20261123T023000Z.dump", "age_s": 59400}),
        result(
            "cron-jobs",
            "cron",
            {"jobs": {"clearsessions": {"last_success_age_s": 3600}, "never": {"last_success_age_s": None}}},
        ),
        result('odd "name"', "http", {}),
    ]
)


@pytest.mark.parametrize(
    "line",
    [
        'vitals_health_tls_cert_expires_in_seconds{check="tls-certificate"} 1080000',
        'vitals_health_disk_free_bytes{check="app-disk",path="/srv"} 1228800',
        'vitals_health_disk_free_ratio{check="app-disk",path="/srv"} 0.3333',
        'vitals_health_unit_restarts{check="gunicorn-service",unit="demo.service"} 22',
        'vitals_health_backup_age_seconds{check="backup-db",backup="db-20261123T023000Z.dump"} 59400',
        'vitals_health_job_last_success_age_seconds{check="cron-jobs",job="clearsessions"} 3600',
        'vitals_health_check_duration_seconds{check="app-disk",type="disk"} 1.500',
        "# TYPE vitals_health_tls_cert_expires_in_seconds gauge",
        "# HELP vitals_health_disk_free_ratio Available / (used + available), as df computes it.",
    ],
)
def test_prometheus_gauges_people_alert_on(line):
    assert line in format_prometheus(REPORT).splitlines()


def test_promtool_finds_nothing_to_complain_about():
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool is missing: make host-packages installs Debian's prometheus package")
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=format_prometheus(REPORT), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout + proc.stderr == ""


@pytest.mark.parametrize("argv", [["--no-such-option"], ["--format", "xml"], ["serve", "--cache-ttl", "soon"]])
def test_a_usage_error_is_unknown_3_not_critical(argv):
    out = io.StringIO()
    assert cli.main(argv, out=out) == 3
    assert out.getvalue().startswith("HEALTH UNKNOWN - usage error: ")


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == "vitals-health %s\n" % __version__


def test_the_json_report_has_a_schema_version():
    assert '"schema_version": %d' % SCHEMA_VERSION in format_json(REPORT)
    assert REPORT["schema_version"] == 1
