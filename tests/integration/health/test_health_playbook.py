"""vitals.django.health through ansible-playbook against real loopback servers."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def health(checks, **options):
    return [{"name": "Run health checks", "vitals.django.health": {"checks": checks, **options}}]


def pg(postgres, **overrides):
    return {**postgres, **overrides}


def test_all_ok_passes_unchanged(playbook, http_server, postgres, app_hits):
    checks = [
        {"name": "home", "http": {"url": http_server + "/ok", "host": "www.example.com", "body_regex": "^welcome$"}},
        {
            "name": "api",
            "http": {"url": http_server + "/json", "json": {"status": "ok", "db.ok": True}, "max_latency": 2},
        },
        {
            "name": "static",
            "http": {"url": http_server + "/static.css", "expect_headers": {"Cache-Control": r"max-age=\d{6,}"}},
        },
        {"name": "port", "tcp": {"host": "127.0.0.1", "port": int(http_server.rsplit(":", 1)[1])}},
        {
            "name": "db",
            "postgres": pg(postgres, query="SELECT count(*) FROM pg_stat_activity WHERE true", expected=None),
        },
        {"name": "disk", "disk": {"path": "/", "min_free": "1%", "min_free_inodes": "1%"}},
        {"name": "cmd", "command": {"argv": ["/bin/echo", "ready"], "stdout_regex": "^ready$"}},
    ]
    run = playbook(health(checks))
    assert run.rc == 0, run.stdout + run.stderr
    result = run.task_result()
    assert result["changed"] is False
    assert result["status"] == "ok"
    assert result["summary"] == {"ok": 7, "warning": 0, "critical": 0, "unknown": 0, "total": 7}
    assert result["msg"] == "All 7 health checks passed"
    assert ("/ok", "www.example.com") in app_hits


def test_critical_fails_the_task_and_lists_every_check(
    playbook, http_server, postgres, closed_port, pg_superuser_password
):
    checks = [
        {"name": "healthy", "http": {"url": http_server + "/json"}},
        {"name": "server-error", "http": {"url": http_server + "/500"}},
        {"name": "no-host-header", "http": {"url": http_server + "/ok"}},
        {"name": "wrong-body", "http": {"url": http_server + "/wrong-body", "body_regex": "welcome"}},
        {"name": "too-slow", "http": {"url": http_server + "/slow", "max_latency": 0.5}},
        {"name": "timeout", "timeout": 0.5, "http": {"url": http_server + "/slow"}},
        {"name": "closed", "tcp": {"host": "127.0.0.1", "port": closed_port}},
        {"name": "db-password", "postgres": pg(postgres, password="wrong-" + postgres["password"])},
        {"name": "db-readonly", "postgres": pg(postgres, query="INSERT INTO items VALUES (3) RETURNING id")},
        {
            "name": "db-value",
            "postgres": pg(
                postgres,
                user="postgres",
                password=pg_superuser_password,
                query="SELECT count(*) FROM items",
                expected="3",
            ),
        },
    ]
    run = playbook(health(checks))
    assert run.rc == 2, run.stdout + run.stderr
    result = run.task_result()
    assert result["failed"] is True
    assert result["changed"] is False
    by_name = {c["name"]: c for c in result["checks"]}
    assert len(by_name) == len(checks)
    assert by_name["healthy"]["status"] == "ok"
    expected = {
        "server-error": "HTTP 500, expected 200",
        "no-host-header": "HTTP 400, expected 200",
        "wrong-body": "body does not match /welcome/",
        "too-slow": "limit 500 ms",
        "timeout": "no answer from %s/slow within 0.5 s" % http_server,
        "closed": "Connection refused",
        "db-password": "password authentication failed",
        "db-readonly": "read-only transaction",
        "db-value": "query returned '2', expected '3'",
    }
    for name, text in expected.items():
        assert by_name[name]["status"] == "critical", by_name[name]
        assert text in by_name[name]["message"], by_name[name]
        assert "%s (" % name in result["msg"]
    assert result["msg"].startswith("9 of 10 health checks failed: ")
    text = run.stdout + run.stderr
    assert postgres["password"] not in text
    assert pg_superuser_password not in text


def test_default_callback_failure_output_names_every_failed_check(playbook, http_server, closed_port, postgres):
    checks = [
        {"name": "server-error", "http": {"url": http_server + "/500"}},
        {"name": "closed", "tcp": {"host": "127.0.0.1", "port": closed_port}},
        {"name": "db", "postgres": pg(postgres, password="bad-" + postgres["password"])},
    ]
    run = playbook(health(checks), json_output=False, extra_args=["-vvv"])
    assert run.rc == 2
    out = run.stdout + run.stderr
    assert (
        "3 of 3 health checks failed: server-error (http, critical): HTTP 500, expected 200; closed (tcp, critical)"
        in out
    )
    assert "db (postgres, critical)" in out
    assert postgres["password"] not in out  # not even in the -vvv invocation arguments


def test_warning_passes_and_is_shown(playbook, http_server):
    checks = [
        {"name": "home", "http": {"url": http_server + "/json"}},
        {
            "name": "wrong-body",
            "severity": "warning",
            "http": {"url": http_server + "/wrong-body", "body_regex": "welcome"},
        },
    ]
    run = playbook(health(checks))
    assert run.rc == 0, run.stdout
    result = run.task_result()
    assert result["status"] == "warning"
    assert (
        result["msg"]
        == "All 2 health checks passed. Warnings: wrong-body (http, warning): body does not match /welcome/"
    )


def test_grace_window_retries_until_the_service_is_up(playbook, http_server, flaky):
    flaky(2)
    run = playbook(health([{"name": "starting", "http": {"url": http_server + "/flaky"}}], within=20, delay=0.5))
    assert run.rc == 0, run.stdout
    check = run.task_result()["checks"][0]
    assert (check["status"], check["attempts"]) == ("ok", 3)


def test_bad_input_fails_before_any_check_runs(playbook, http_server, app_hits):
    checks = [
        {"name": "fine", "http": {"url": http_server + "/ok"}},
        {"name": "typo", "htpp": {"url": http_server + "/ok"}},
        {"name": "both", "tcp": {"host": "h", "port": 1}, "http": {"url": http_server}},
        {"name": "no-port", "tcp": {"host": "h"}},
        {"name": "big-port", "tcp": {"host": "h", "port": 70000}},
        {"name": "bad-url", "http": {"url": "localhost/health"}},
    ]
    run = playbook(health(checks))
    assert run.rc == 2
    result = run.task_result()
    for text in (
        "check 'typo': unknown option or check type htpp",
        "check 'both': needs exactly one check type, got tcp, http",
        "check 'no-port': option 'port' is required for type tcp",
        "check 'big-port': option 'port' must be a port between 1 and 65535, got 70000",
        "check 'bad-url': option 'url' must be an http:// or https:// URL",
    ):
        assert text in result["msg"]
    assert app_hits == []


def test_check_mode_runs_the_checks(playbook, http_server):
    run = playbook(health([{"name": "home", "http": {"url": http_server + "/500"}}]), extra_args=["--check"])
    assert run.rc == 2
    assert run.task_result()["checks"][0]["message"] == "HTTP 500, expected 200"


def test_checks_run_concurrently(playbook, http_server):
    checks = [{"name": "slow%d" % i, "http": {"url": http_server + "/slow"}} for i in range(8)]
    run = playbook(health(checks))
    assert run.rc == 0
    durations = [c["duration_ms"] for c in run.task_result()["checks"]]
    assert sum(durations) > 8 * 1400
    # Run one after another, the checks alone would take the sum of their durations; the playbook's
    # own start (seconds on a busy machine) is inside run.elapsed, so the margin is not 2x.
    assert run.elapsed < sum(durations) / 1000 * 0.75


def test_cli_nagios_output_against_the_same_servers(tmp_path, http_server, closed_port):
    """The vitals-health command runs the same package standalone (as installed by health_monitor)."""
    config = tmp_path / "health.yml"
    checks = [
        {"name": "home", "http": {"url": http_server + "/json"}},
        {"name": "closed", "tcp": {"host": "127.0.0.1", "port": closed_port}},
    ]
    config.write_text(json.dumps({"checks": checks}))
    lib = tmp_path / "lib"
    (lib / "vitals_health").mkdir(parents=True)
    for source in (REPO / "plugins/module_utils/health").glob("*.py"):
        (lib / "vitals_health" / source.name).write_text(source.read_text())
    code = "import sys; from vitals_health.cli import main; sys.exit(main())"
    proc = subprocess.run(
        ["/usr/bin/python3", "-c", code, "--config", str(config), "--format", "nagios"],
        env=dict(os.environ, PYTHONPATH=str(lib)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.startswith("HEALTH CRITICAL - 1 of 2 health checks failed: closed (tcp, critical)")
    assert "'home_time'=" in proc.stdout


def test_ansible_doc_renders():
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    ansible_doc = Path(sys.executable).with_name("ansible-doc")
    proc = subprocess.run(
        [str(ansible_doc), "vitals.django.health"], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for text in (
        "within",
        "concurrency",
        "fail_on_unknown",
        "expect_headers",
        "restore_test",
        "EXAMPLES",
        "RETURN VALUES",
    ):
        assert text in proc.stdout
