"""Secrets never appear in `ansible-playbook -vvv --diff` output (issue 7): run the scenario's
site playbook and a play whose no_log task handling the database password fails, then look
for every secret value (from the inventory and the env files on the app hosts) in the log.

Slow (a whole converge at -vvv): Molecule runs it in the scenarios that include this file."""

import os
import subprocess
from pathlib import Path

import pytest
import securitylib as lib
from test_security import host_secrets

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
PLAYBOOK = os.environ.get("VITALS_SECURITY_PLAYBOOK", str(PROJECT / "playbooks" / "site.yml"))
PROBE = str(Path(__file__).with_name("leak_probe.yml"))

# make test runs it once (Debian 13): the log comes from the controller, not the host's release.
pytestmark = pytest.mark.skipif(
    os.environ.get("VITALS_SECURITY_LOG_TEST", "1") == "0", reason="VITALS_SECURITY_LOG_TEST=0"
)


def playbook(inventory, path):
    res = subprocess.run(
        ["ansible-playbook", "-vvv", "--diff", "-i", inventory, path],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
    )
    return res.returncode, res.stdout + res.stderr


def test_no_secret_in_vvv_output(stack, report):
    secrets = {}
    for name in stack.vars:
        secrets.update(host_secrets(stack, name))
    assert {"app_secret_key", "app_db_password"} <= set(secrets)
    site_rc, site_log = playbook(stack.inventory, PLAYBOOK)
    probe_rc, probe_log = playbook(stack.inventory, PROBE)
    log = site_log + probe_log
    found = lib.leaked(log, secrets)
    report["vvv log grep"] = {
        "playbooks": [PLAYBOOK, PROBE],
        "log_bytes": len(log.encode()),
        "secrets_searched": sorted(secrets),
        "secrets_found": found,
    }
    # Names only: a failure message must not print the values either.
    assert found == [], f"secret values in the -vvv log: {found}"
    assert site_rc == 0, site_log[-3000:]
    assert probe_rc == 2 and "censored" in probe_log, probe_log[-3000:]
