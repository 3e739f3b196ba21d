"""The collection as users get it: build the tarball, install it into an empty collections path
and run a playbook that uses vitals.django.* by FQCN from a directory outside the checkout,
with no ansible.cfg of the repository in effect."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
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
