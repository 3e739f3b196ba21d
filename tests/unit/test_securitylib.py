"""Unit tests of the security verification's pure helpers (molecule/shared/security)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "molecule" / "shared" / "security"))

import securitylib as lib  # noqa: E402

GROUPS = {"lb": ["lb"], "app": ["app1", "app2"], "db": ["db"]}
ADDRESSES = {"lb": "10.0.0.10", "app1": "10.0.0.11", "app2": "10.0.0.12", "db": "10.0.0.13"}


def admitted(target, source, port, **fw):
    return lib.admitted(target, ADDRESSES.get(source, source), port, groups=GROUPS, addresses=ADDRESSES, fw=fw)


def test_parse_exposure():
    text = "  NAME  DESCRIPTION  EXPOSURE\n...\n→ Overall exposure level for demo.service: 1.9 OK 🙂\n"
    assert lib.parse_exposure(text) == 1.9
    assert lib.parse_exposure("→ Overall exposure level for x.service: 9.6 UNSAFE 😨") == 9.6
    with pytest.raises(ValueError, match="Overall exposure"):
        lib.parse_exposure("Unit x.service not found.")


def test_listeners_and_external_ports():
    ss = (
        "LISTEN 0 244 127.0.0.1:5432 0.0.0.0:*\n"
        "LISTEN 0 244 [::1]:5432 [::]:*\n"
        "LISTEN 0 511 0.0.0.0:80 0.0.0.0:*\n"
        "LISTEN 0 128 *:22 *:*\n"
        "LISTEN 0 5 [fe80::1%host0]:9105 [::]:*\n"
    )
    listeners = lib.parse_listeners(ss)
    assert listeners[5432] == {"127.0.0.1", "::1"}
    assert lib.external_ports(listeners) == {80, 22, 9105}


def test_ssh_open_to_all_unless_limited():
    assert admitted("db", "192.0.2.1", 22)
    assert not admitted("db", "192.0.2.1", 22, firewall_ssh_sources=["10.0.0.0/24"])
    assert admitted("db", "10.0.0.99", 22, firewall_ssh_sources=["10.0.0.0/24"])


def test_web_ports_on_app_and_lb_only():
    assert admitted("lb", "192.0.2.1", 443)
    assert admitted("app1", "192.0.2.1", 80)
    assert not admitted("db", "app1", 80)
    assert not admitted("app1", "192.0.2.1", 80, firewall_app_only_from_lb=True)
    assert admitted("app1", "lb", 80, firewall_app_only_from_lb=True)
    assert admitted("lb", "192.0.2.1", 80, firewall_app_only_from_lb=True)


def test_database_from_app_hosts_only():
    assert admitted("db", "app1", 5432)
    assert admitted("db", "app2", 5432)
    assert not admitted("db", "lb", 5432)
    assert not admitted("db", "192.0.2.1", 5432)
    assert admitted("db", "192.0.2.7", 5432, firewall_db_sources=["192.0.2.0/28"])
    assert not admitted("app1", "app2", 5432)


def test_health_port_never_and_switch_off():
    assert not admitted("app1", "app2", 9105)
    assert not admitted("app1", "app2", 9105, firewall_extra_rules=[{"port": "9000-9200"}])
    assert admitted("app1", "192.0.2.1", 9105, firewall_enabled=False)


def test_extra_rules():
    rules = [{"port": "6000-6010", "sources": ["192.0.2.0/24"]}, {"port": 7000, "proto": "udp"}]
    assert admitted("db", "192.0.2.5", 6005, firewall_extra_rules=rules)
    assert not admitted("db", "198.51.100.5", 6005, firewall_extra_rules=rules)
    assert not admitted("db", "192.0.2.5", 7000, firewall_extra_rules=rules)


def test_secrets_from_env():
    env = (
        "# comment\n"
        "SECRET_KEY='abcdefghijklmnopqrstuvwxyz0123456789'\n"
        "DATABASE_URL=postgres://demo:s3cretpassw0rd@db:5432/demo\n"
        'export API_TOKEN="tok-123456789"\n'
        "DEBUG=false\n"
        "SHORT_PASSWORD=abc\n"
    )
    assert lib.secrets_from_env(env) == {
        "SECRET_KEY": "abcdefghijklmnopqrstuvwxyz0123456789",
        "DATABASE_URL:password": "s3cretpassw0rd",
        "API_TOKEN": "tok-123456789",
    }


def test_leaked_names_only_found_values():
    secrets = {"a": "value-one-xyz", "b": "value-two-xyz"}
    assert lib.leaked("... value-two-xyz ...", secrets) == ["b"]
    assert lib.leaked("nothing here", secrets) == []


def rule(line, type_, address, netmask, method):
    return {"line_number": str(line), "type": type_, "address": address, "netmask": netmask, "auth_method": method}


def test_hba_violations():
    good = [
        rule(1, "local", "", "", "peer"),
        rule(2, "host", "127.0.0.1", "255.255.255.255", "scram-sha-256"),
        rule(3, "host", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "scram-sha-256"),
        rule(4, "hostssl", "10.0.0.11", "255.255.255.255", "scram-sha-256"),
        rule(5, "host", "all", "", "reject"),
    ]
    assert lib.hba_violations(good, ["10.0.0.11"]) == []
    bad = [
        rule(6, "host", "10.0.0.0", "255.255.255.0", "scram-sha-256"),
        rule(7, "host", "10.0.0.11", "255.255.255.255", "md5"),
        rule(8, "host", "all", "", "scram-sha-256"),
        rule(9, "host", "10.0.0.12", "255.255.255.255", "scram-sha-256"),
    ]
    assert lib.hba_violations(bad, ["10.0.0.11"]) == [
        "line 6: admits 10.0.0.0/24, not only app hosts",
        "line 7: host uses md5",
        "line 8: admits all",
        "line 9: admits 10.0.0.12/32, not only app hosts",
    ]
