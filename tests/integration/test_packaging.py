"""The collection as users get it: build the tarball, install it into an empty collections path
and use it by FQCN from a directory outside the checkout, with no ansible.cfg of the repository
in effect: the plugins' docs, a playbook of the user's, and the collection's own verify playbook
against a real test host (tools/testhosts.py), with no warning in its output."""

import json
import os
import secrets
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TESTHOSTS = REPO / "tools" / "testhosts.py"
# Paths of a working checkout that must never reach the tarball (and no inventory's .secrets/).
FORBIDDEN_PREFIXES = (".git/", ".venv/", ".ansible/", "build/", ".cache/", "tests/output/")

PLAYBOOK = """\
- name: Use the installed collection by FQCN
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run the collection's health module
      vitals.django.health:
        checks:
          - name: root-disk
            disk: {path: /, min_free: 1%}
      register: result

    - name: Show that the check ran
      ansible.builtin.assert:
        that:
          - result.checks | length == 1
          - result.checks[0].status == 'ok'
"""


def run(cmd, env, cwd):
    res = subprocess.run(cmd, env=env, cwd=cwd, text=True, capture_output=True, check=False)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(environment, work dir, collections path) with the freshly built tarball installed."""
    tmp = tmp_path_factory.mktemp("packaging")
    work, colls, dist = tmp / "work", tmp / "collections", tmp / "dist"
    for d in (work, colls, dist):
        d.mkdir()
    (work / "ansible.cfg").write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_")) and k != "PYTHONPATH"}
    # Only the empty path (plus the collections bundled with ansible): the checkout, ~/.ansible and
    # .collections/ are not searched, so a FQCN that resolves comes from the tarball.
    env.update(
        ANSIBLE_CONFIG=str(work / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(colls),
        ANSIBLE_HOME=str(tmp / "home"),
        PATH=f"{BIN}:{env.get('PATH', '')}",
    )
    run([BIN / "ansible-galaxy", "collection", "build", "--output-path", dist, REPO], env, work)
    (tarball,) = dist.glob("vitals-django-*.tar.gz")
    # Dependencies are the collections the ansible package bundles; Galaxy is not reachable.
    run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", colls, tarball], env, work)
    return {"env": env, "work": work, "colls": colls, "tarball": tarball}


def test_tarball_holds_no_checkout_leftovers(installed):
    with tarfile.open(installed["tarball"]) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names
    assert "plugins/modules/health.py" in names
    leaks = sorted(
        {n for n in names if n.startswith(FORBIDDEN_PREFIXES) or "__pycache__" in n or "/.secrets" in f"/{n}"}
    )
    assert not leaks, f"the tarball carries checkout files: {leaks[:20]}"


def test_module_resolves_from_the_installed_tarball(installed):
    doc = json.loads(
        run(
            [BIN / "ansible-doc", "--json", "-t", "module", "vitals.django.health"], installed["env"], installed["work"]
        )
    )
    filename = doc["vitals.django.health"]["doc"]["filename"]
    assert filename.startswith(str(installed["colls"])), filename


def test_playbook_uses_the_collection_by_fqcn(installed):
    playbook = installed["work"] / "use.yml"
    playbook.write_text(PLAYBOOK)
    cmd = [BIN / "ansible-playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}", playbook]
    out = run(cmd, installed["env"], installed["work"])
    assert "failed=0" in out


def test_roles_are_installed(installed):
    roles = installed["colls"] / "ansible_collections" / "vitals" / "django" / "roles"
    assert (roles / "app" / "meta" / "argument_specs.yml").is_file()


def plugin_names(installed, kind):
    """The vitals.django plugins of one type that ansible-doc lists from the installed tarball."""
    out = run(
        [BIN / "ansible-doc", "--list", "--json", "-t", kind, "vitals.django"], installed["env"], installed["work"]
    )
    return sorted(json.loads(out))


def test_tarball_lists_the_license(installed):
    with tarfile.open(installed["tarball"]) as tar:
        license_text = tar.extractfile("LICENSE").read().decode()
    assert "GNU GENERAL PUBLIC LICENSE" in license_text
    assert "Version 3" in license_text


def test_ansible_doc_renders_every_plugin(installed):
    plugins = installed["colls"] / "ansible_collections" / "vitals" / "django" / "plugins"
    modules = sorted(f"vitals.django.{p.stem}" for p in (plugins / "modules").glob("*.py") if p.stem != "__init__")
    filters = sorted(f"vitals.django.{p.stem}" for p in (plugins / "filter").glob("*.py") if p.stem != "__init__")
    assert plugin_names(installed, "module") == modules
    assert plugin_names(installed, "filter") == filters
    for kind, names in (("module", modules), ("filter", filters)):
        res = subprocess.run(
            [BIN / "ansible-doc", "-t", kind, *names],
            env=dict(installed["env"], ANSIBLE_NOCOLOR="1"),
            cwd=installed["work"],
            text=True,
            capture_output=True,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        assert "[WARNING]" not in res.stdout + res.stderr, res.stderr
        for name in names:
            assert f"> {kind.upper()} {name}" in res.stdout, f"{name} did not render"


def test_installing_from_inside_a_clone_installs(installed, tmp_path):
    """The clone's own ansible.cfg in effect, the shell in the checkout: `-p DIR` really installs."""
    env = dict(installed["env"], ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    env.pop("ANSIBLE_COLLECTIONS_PATH")
    dest = tmp_path / "collections"
    run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", dest, installed["tarball"]], env, REPO)
    assert (dest / "ansible_collections" / "vitals" / "django" / "MANIFEST.json").is_file()


def test_verify_playbook_passes_the_syntax_check(installed):
    cmd = [BIN / "ansible-playbook", "-i", "localhost,", "--syntax-check", "vitals.django.verify"]
    out = run(cmd, installed["env"], installed["work"])
    assert "[WARNING]" not in out, out


INVENTORY = """\
all:
  vars:
    ansible_user: root
    # As inventories/example names it: Ansible warns about an interpreter it has to discover.
    ansible_python_interpreter: /usr/bin/python3
    ansible_ssh_private_key_file: {key}
    # A throwaway test host: new host keys on every boot.
    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
    app_name: pkgtest
    app_server_names: [pkgtest.test]
    app_secret_key: {secret_key}
    app_db_password: {db_password}
    # No app host: the database host backs up the database only.
    backup_media: false
  children:
    db:
      hosts:
        pkgdb:
          ansible_host: {address}
"""


PROVISION_DB = """\
- name: Provision the database host
  hosts: db
  roles:
    - role: vitals.django.app
    - role: vitals.django.postgresql
    - role: vitals.django.backup
"""


@pytest.fixture(scope="module")
def db_host(installed, tmp_path_factory):
    """Inventory of one real Debian test host in group db (no app, no lb group) with PostgreSQL
    provisioned by the collection: what vitals.django.verify checks on a database host."""
    if os.geteuid() != 0:
        pytest.skip("test hosts need root")  # CI runs as root
    lab = os.environ.get("VITALS_LAB_TAG", "") + "pkg"
    up = subprocess.run(
        [sys.executable, TESTHOSTS, "up", "--lab", lab, "--hosts-json", "-"],
        input=json.dumps([{"name": "pkgdb"}]),
        text=True,
        capture_output=True,
        check=False,
    )
    try:
        assert up.returncode == 0, up.stderr
        (host,) = json.loads(up.stdout)
        inventory = tmp_path_factory.mktemp("verify") / "hosts.yml"
        inventory.write_text(
            INVENTORY.format(
                key=host["identity_file"],
                address=host["address"],
                secret_key=secrets.token_urlsafe(50),
                db_password=secrets.token_urlsafe(24),
            )
        )
        # The database host as site.yml leaves it, by the installed collection's own role (verify
        # reads the cluster unit it publishes and writes to the table it creates).
        playbook = inventory.with_name("db.yml")
        playbook.write_text(PROVISION_DB)
        run([BIN / "ansible-playbook", "-i", inventory, playbook], installed["env"], installed["work"])
        yield inventory
    finally:
        subprocess.run([sys.executable, TESTHOSTS, "down", "--lab", lab], capture_output=True, check=False)


def test_verify_playbook_runs_against_a_test_host_without_warnings(installed, db_host):
    cmd = [BIN / "ansible-playbook", "-i", db_host, "vitals.django.verify"]
    res = subprocess.run(cmd, env=installed["env"], cwd=installed["work"], text=True, capture_output=True, check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "pkgdb" in out and "failed=0" in out, out
    assert "postgresql" in out, "the report names the database host's checks"
    assert "[WARNING]" not in out, out
