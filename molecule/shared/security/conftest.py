"""Fixtures of the security verification: the scenario's hosts by group, their rendered
variables (role defaults filled in) and a report of the measured figures.

Run by Molecule's testinfra verifier (`--ansible-inventory` is the scenario's inventory), or
by hand: pytest molecule/shared/security --ansible-inventory INVENTORY --hosts all."""

import functools
import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra

# Variables the checks read; roles' defaults stand in for what the inventory does not set.
VARS_RE = "^(app_|firewall_|health_monitor_|ansible_host$|group_names$)"
REPORT = {}


def pytest_addoption(parser):
    parser.addoption(
        "--security-report",
        default=os.environ.get("VITALS_SECURITY_REPORT", ""),
        help="write the measured figures (exposure, port scan, log grep) to this JSON file",
    )


def inventory_path(config):
    path = config.getoption("ansible_inventory", None) or os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path:
        raise pytest.UsageError("give the scenario's inventory with --ansible-inventory")
    return path


@functools.cache
def host_vars(inventory):
    """{host: rendered variables}, from one ad-hoc debug run over every host."""
    # By name through the vars lookup: iterating hostvars cannot render a value that itself uses
    # hostvars (app_db_host of a multi-host inventory).
    names = f"query('ansible.builtin.varnames', '{VARS_RE}')"
    expr = f"{{{{ {names} | zip(query('ansible.builtin.vars', *{names})) | community.general.dict }}}}"
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    run = subprocess.run(
        ["ansible", "all", "-i", inventory, "-m", "ansible.builtin.debug", "-a", f"msg={expr}"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    if run.returncode != 0:
        raise RuntimeError(f"reading the inventory's variables failed:\n{run.stderr[-2000:]}\n{run.stdout[-3000:]}")
    hosts = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"]
    return {name: with_defaults(result["msg"]) for name, result in hosts.items()}


def with_defaults(v):
    """Fill in the defaults of roles/app (and the health endpoint's port)."""
    name = v.setdefault("app_name", "demo")
    v.setdefault("app_root", f"/srv/{name}")
    v.setdefault("app_user", name)
    v.setdefault("app_group", name)
    v.setdefault("app_deploy_user", "deploy")
    v.setdefault("app_server_names", ["localhost"])
    v.setdefault("app_tls", False)
    v.setdefault("app_db_user", name)
    v.setdefault("app_db_host", "localhost")
    v.setdefault("health_monitor_port", 9105)
    v.setdefault("health_monitor_service", "vitals-health.service")
    v.setdefault("ansible_host", "")
    return v


class Stack:
    """The scenario as the checks see it: groups, addresses, variables, testinfra hosts."""

    def __init__(self, inventory):
        self.inventory = inventory
        self.vars = host_vars(inventory)
        self.groups = {}
        for name, v in self.vars.items():
            for group in v["group_names"]:
                self.groups.setdefault(group, []).append(name)
        self.addresses = {name: v["ansible_host"] or name for name, v in self.vars.items()}
        self._hosts = {}

    def host(self, name):
        if name not in self._hosts:
            self._hosts[name] = testinfra.get_host(f"ansible://{name}", ansible_inventory=self.inventory)
        return self._hosts[name]

    def in_group(self, group):
        return sorted(self.groups.get(group, []))


@functools.cache
def stack_for(inventory):
    return Stack(inventory)


@pytest.fixture(scope="session")
def stack(request):
    return stack_for(inventory_path(request.config))


@pytest.fixture(scope="session")
def report():
    return REPORT


def pytest_generate_tests(metafunc):
    """app_host / db_host / web_host / edge_host / any_host: one test per matching host."""
    wanted = [f for f in ("app_host", "db_host", "web_host", "edge_host", "any_host") if f in metafunc.fixturenames]
    if not wanted:
        return
    st = stack_for(inventory_path(metafunc.config))
    lb = st.in_group("lb")
    members = {
        "app_host": st.in_group("app"),
        "db_host": st.in_group("db"),
        "web_host": sorted(set(st.in_group("app")) | set(lb)),
        # Where clients arrive: the load balancers, or the app hosts when there are none.
        "edge_host": lb or st.in_group("app"),
        "any_host": sorted(st.vars),
    }
    metafunc.parametrize(wanted[0], members[wanted[0]])


def pytest_sessionfinish(session):
    path = session.config.getoption("security_report")
    if path and REPORT:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(REPORT, indent=2, sort_keys=True) + "\n")


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("security figures")
        for key in sorted(REPORT):
            terminalreporter.write_line(f"{key}: {json.dumps(REPORT[key], sort_keys=True)}")
