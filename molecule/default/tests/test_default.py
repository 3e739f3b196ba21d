"""Checks of the default scenario's converge, run by Molecule's testinfra verifier."""


def test_cron_runs(host):
    assert host.package("cron").is_installed
    cron = host.service("cron")
    assert cron.is_running
    assert cron.is_enabled


def test_marker_names_groups(host):
    marker = host.file("/etc/vitals-smoke")
    assert marker.mode == 0o644
    assert marker.content_string.strip() == f"{host.backend.host} in groups app,db"


def test_smoke_unit_serves_http(host):
    assert host.service("vitals-smoke").is_running
    assert host.socket("tcp://127.0.0.1:8080").is_listening
    body = host.check_output(
        "python3 -c 'import urllib.request as u; print(u.urlopen(\"http://127.0.0.1:8080/vitals-smoke\").read().decode())'"
    )
    assert "in groups app,db" in body


def test_host_is_real_systemd_debian(host):
    assert host.check_output("systemctl is-system-running") == "running"
    assert host.system_info.distribution == "debian"
