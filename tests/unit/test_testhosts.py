"""Pure parts of tools/testhosts.py: names, addresses and input validation (no root, no host)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("testhosts", Path(__file__).resolve().parents[2] / "tools/testhosts.py")
th = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(th)


def state(subnet="10.88.5.0/24", **hosts):
    net = th.ipaddress.ip_network(subnet)
    return {"lab": "lab", "subnet": subnet, "gateway": str(net.network_address + 1), "hosts": hosts}


@pytest.mark.parametrize("lab", ["sandbox", "m_default_trixie", "m_rolling_bookworm_trixie", "a" * 32])
def test_bridge_names_fit_and_differ(lab):
    name = th.bridge_name(lab)
    assert len(name) <= 15
    assert name.startswith(th.BRIDGE_PREFIX)
    assert th.bridge_name(lab + "x") != name


def test_machine_names_are_short_valid_and_unique():
    names = {th.machine_name(lab, host) for lab in ("fw", "m_default_trixie", "t_x") for host in ("db", "app-1", "a")}
    assert len(names) == 9
    for name in names:
        assert len(name) <= 12
        assert "_" not in name
    assert th.machine_name("fw", "db") == "fw-db"


def test_addresses_are_allocated_from_10_and_kept():
    st = state(known={"address": "10.88.5.10", "release": "trixie"})
    hosts = [{"name": "known"}, {"name": "new1"}, {"name": "new2", "address": "10.88.5.50"}]
    th.assign_addresses(st, hosts)
    assert [h["address"] for h in hosts] == ["10.88.5.10", "10.88.5.11", "10.88.5.50"]


@pytest.mark.parametrize("address", ["10.88.6.10", "10.88.5.1", "10.88.5.255", "10.88.5.0"])
def test_address_outside_the_lab_or_reserved_is_refused(address):
    with pytest.raises(th.Error, match="outside lab lab's subnet"):
        th.assign_addresses(state(), [{"name": "h", "address": address}])


def test_two_hosts_on_one_address_are_refused():
    with pytest.raises(th.Error, match="both want"):
        th.assign_addresses(state(), [{"name": "a", "address": "10.88.5.20"}, {"name": "b", "address": "10.88.5.20"}])


def test_a_running_host_cannot_move():
    st = state(h={"address": "10.88.5.10", "release": "trixie"})
    with pytest.raises(th.Error, match="runs with 10.88.5.10"):
        th.assign_addresses(st, [{"name": "h", "address": "10.88.5.30"}])


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ([], "no hosts"),
        ([{"name": "a"}, {"name": "a"}], "duplicate host name 'a'"),
        ([{"name": "Bad_Name"}], "must match"),
        ([{"name": "a", "release": "buster"}], "release 'buster'"),
        ([{"name": "a", "address": "10.88.1"}], "does not appear to be an IPv4 or IPv6 address"),
        (["a"], "needs a name"),
    ],
)
def test_bad_host_lists_are_refused(hosts, message):
    with pytest.raises(th.Error, match=message):
        th.validate_hosts(hosts)


def test_defaults_are_filled_in():
    assert th.validate_hosts([{"name": "a"}]) == [{"name": "a", "release": "trixie", "groups": []}]


def test_guest_sources_name_the_guest_suite():
    text = th.guest_sources("bookworm", "http://deb.example/debian", "http://deb.example/debian-security")
    assert "Suites: bookworm bookworm-updates\n" in text
    assert "URIs: http://deb.example/debian-security\nSuites: bookworm-security\n" in text
