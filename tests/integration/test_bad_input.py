"""Bad input stops `site.yml` before any change, with a message naming the variable (issues 4, 7).

The host is an unreachable documentation address (192.0.2.1, RFC 5737): validation runs on the
controller, so a run that gets past it fails UNREACHABLE instead of a clear error, and nothing
can change anywhere."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GOOD = {
    "app_secret_key": "x7Kq2vLp9RzT4mWn8YbC3dFh6JsG1aEu5NoP0iQr2tVy-Hk8Zc",
    "app_db_password": "pA55w0rd-long-enough",
}
INVENTORY = """\
all:
  hosts:
    aio:
      ansible_host: 192.0.2.1
      ansible_ssh_common_args: -o ConnectTimeout=2
  children:
    db: {hosts: {aio: {}}}
    app: {hosts: {aio: {}}}
"""


def run_site(tmp_path, extra, inventory=None, options=()):
    if inventory is None:
        inventory = tmp_path / "hosts.yml"
        inventory.write_text(INVENTORY)
    args = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(inventory),
        *options,
        str(REPO / "site.yml"),
    ]
    for name, value in extra.items():
        args += ["-e", f"{name}={value}"]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=300)
    return res.returncode, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"app_db_port": "99999"}, "app_db_port must be a port number"),
        ({"app_db_port": "not-a-port"}, "app_db_port"),
        ({"app_tls": "maybe"}, "app_tls"),
        ({"app_name": "Bad-Name"}, "app_name must match"),
        ({"app_secret_key": "changeme"}, "app_secret_key is a placeholder"),
        ({"app_db_password": "changeme"}, "app_db_password is a placeholder"),
        ({"app_db_password": None}, "app_db_password"),
        ({"app_check_home_page_regex": "Items:([0-9]+"}, "app_check_home_page_regex is a regular expression"),
        ({"app_check_health_path": "ht/"}, "app_check_health_path must be"),
        ({"app_check_static_file": "../etc/passwd"}, "app_check_static_file must be"),
    ],
    ids=[
        "port-range",
        "port-type",
        "bool-type",
        "app-name",
        "secret-key-placeholder",
        "password-placeholder",
        "password-missing",
        "home-page-regex",
        "health-path",
        "static-file",
    ],
)
def test_bad_input_stops_before_any_change(tmp_path, override, expected):
    extra = {**GOOD, **override}
    extra = {k: v for k, v in extra.items() if v is not None}
    rc, log = run_site(tmp_path, extra)
    assert rc != 0
    assert expected in log, log[-3000:]
    assert "UNREACHABLE" not in log, "validation let the run reach the host:\n" + log[-3000:]
    # The placeholder values never reach the output with the good secrets.
    for secret in GOOD.values():
        assert secret not in log


def test_good_input_gets_past_validation(tmp_path):
    """The control case: the same run with valid settings does try to reach the host."""
    rc, log = run_site(tmp_path, GOOD)
    assert rc != 0
    assert "UNREACHABLE" in log, log[-3000:]


EXAMPLE = REPO / "inventories" / "example"
EXAMPLE_VAULT_PASSWORD = REPO / "tests" / "example-vault-password"
# Not the example's private addresses, which may belong to anything where the tests run: every host
# goes to the documentation address of INVENTORY instead.
FAST_FAIL = {"ansible_host": "192.0.2.1"}


def test_example_inventory_with_its_vault_gets_past_validation(tmp_path):
    """The documented vault workflow: the secrets decrypt and pass validation, then the run goes
    to the hosts (unreachable here), and no secret value reaches the output."""
    rc, log = run_site(
        tmp_path, FAST_FAIL, inventory=EXAMPLE, options=["--vault-password-file", str(EXAMPLE_VAULT_PASSWORD)]
    )
    assert rc != 0
    assert "UNREACHABLE" in log, log[-3000:]
    view = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-vault"), "view", "--vault-password-file"]
        + [str(EXAMPLE_VAULT_PASSWORD), str(EXAMPLE / "group_vars" / "all" / "vault.yml")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    secrets = yaml.safe_load(view)
    assert set(secrets) == {"vault_app_secret_key", "vault_app_db_password"}
    for secret in secrets.values():
        assert secret not in log


def test_example_inventory_without_the_vault_password_stops_before_any_host(tmp_path):
    rc, log = run_site(tmp_path, FAST_FAIL, inventory=EXAMPLE)
    assert rc != 0
    assert "vault" in log.lower(), log[-3000:]
    assert "UNREACHABLE" not in log, log[-3000:]


# Issue 12: check lists and the new check options are validated in the first play of every
# playbook that uses them, naming the variable and the path inside it, before any host task.
HOME = {"name": "home", "http": {"url": "http://127.0.0.1/"}}


def run_playbook(tmp_path, playbook, extra):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORY)
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps({**GOOD, **extra}))
    args = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "-e", "@%s" % extra_file]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run(
        [*args, str(REPO / playbook)], capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=300
    )
    return res.returncode, res.stdout + res.stderr


BAD_CHECKS = [
    (
        {"verify_extra_checks": [HOME, HOME, {"name": "x", "http": {"url": "ftp://x"}}]},
        "verify_extra_checks[2].http.url",
    ),
    ({"verify_extra_checks": "home"}, "verify_extra_checks: must be a list of checks"),
    ({"verify_extra_checks": [{"name": "u", "systemd": {"unit": "a", "observe": -1}}]}, "[0].systemd.observe"),
    (
        {"verify_extra_checks": [{"name": "d", "disk": {"path": "/", "warn_free": "5%", "min_free": "9%"}}]},
        "verify_extra_checks[0].disk: check 'd': 'warn_free' must not be below 'min_free'",
    ),
    ({"verify_extra_checks": [{"name": "t", "tls": {"host": "h", "warn_days": 3}}]}, "[0].tls: check 't'"),
    ({"verify_extra_checks": [{"name": "p", "postgres": {"write": "maybe"}}]}, "[0].postgres.write"),
    (
        {"verify_extra_checks": [{"name": "m", "media": {"root": "/m", "url": "http://h/", "umask": "777x"}}]},
        "[0].media.umask",
    ),
    ({"verify_extra_checks": [{"name": "w", "unit": {"a": 1}, "http": {"url": "http://h/"}}]}, "[0].unit"),
    ({"verify_extra_checks": [{"name": "c", "cron": {"job": "*", "max_age": "soon"}}]}, "[0].cron.max_age"),
    ({"verify_extra_checks": [{"name": "b", "backup": {"app": "demo"}}]}, "needs 'max_age' or 'job'"),
    ({"deploy_health_checks": [{"name": "x", "tcp": {"host": "h"}}]}, "deploy_health_checks[0].tcp.port"),
    ({"health_monitor_checks": [{"name": "x", "nope": {}}]}, "health_monitor_checks[0].nope"),
    ({"app_server_names": "www.example.com"}, "app_server_names must be a non-empty list of host names (not a string)"),
    ({"verify_within": "soon"}, "verify_within must be a number of seconds"),
]
PLAYBOOKS = ["site.yml", "playbooks/verify.yml", "playbooks/deploy.yml", "playbooks/rollback.yml"]


@pytest.mark.parametrize(("extra", "expected"), BAD_CHECKS, ids=[str(index) for index in range(len(BAD_CHECKS))])
def test_bad_check_lists_stop_verify_before_any_host_task(tmp_path, extra, expected):
    rc, log = run_playbook(tmp_path, "playbooks/verify.yml", extra)
    assert rc != 0
    assert expected in log, log[-3000:]
    assert "UNREACHABLE" not in log, "validation let the run reach the host:\n" + log[-3000:]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_playbook_validates_check_lists_in_its_first_play(tmp_path, playbook):
    bad = {"verify_extra_checks": [{"name": "db", "postgres": {"password": "Secret-Pg-4242", "port": 70000}}]}
    rc, log = run_playbook(tmp_path, playbook, bad)
    assert rc != 0
    assert "verify_extra_checks[0].postgres.port: check 'db': option 'port' must be a port" in log, log[-3000:]
    assert "UNREACHABLE" not in log, log[-3000:]
    # The reason is shown, the secret is not.
    assert "Secret-Pg-4242" not in log
