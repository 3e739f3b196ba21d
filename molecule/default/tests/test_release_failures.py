"""Deploys that must not change anything (issues 4, 6, 15): a second deploy while the lock is held,
and a release whose requirements cannot be resolved: run deploy.yml with a copy of the demo that
pins a version that does not exist, then check that the build stops naming it, no host got a new
release, `current` did not move and the site answers.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from probe import fetch

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
RELEASE = os.environ.get("VITALS_TEST_RELEASE", "trixie")


def releases(host):
    """Release id -> its release.json (a release that never got one maps to None)."""
    found = {}
    for rid in host.check_output("ls /srv/demo/releases").split():
        state = host.file(f"/srv/demo/releases/{rid}/release.json")
        found[rid] = json.loads(state.content_string) if state.exists else None
    return found


def deploy(*extra_vars):
    """Run playbooks/deploy.yml against the scenario's host: (rc, output)."""
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
    argv.append(str(PROJECT / "playbooks" / "deploy.yml"))
    for extra in extra_vars:
        argv += ["-e", extra]
    run = subprocess.run(argv, capture_output=True, text=True, check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    return run.returncode, run.stdout + run.stderr


def test_a_second_deploy_stops_at_the_lock(host):
    """A deploy that finds the lock held stops before any change and leaves the holder's lock."""
    lock = "/var/lib/vitals/deploy/demo.lock"
    live_before = host.file("/srv/demo/current").linked_to
    host.run_expect([0], f'mkdir -p {lock} && echo \'{{"playbook": "held by the test"}}\' > {lock}/owner.json')
    try:
        rc, log = deploy("deploy_backup=false")
        assert rc != 0, log[-3000:]
        assert "Another deploy of demo holds the lock" in log, log[-3000:]
        assert "held by the test" in log
        assert host.file(lock).is_directory, "the failed run removed a lock it does not hold"
        assert host.file("/srv/demo/current").linked_to == live_before
    finally:
        host.run(f"rm -rf {lock}")


def test_a_missing_version_stops_the_build_before_any_host(host, tmp_path):
    """A pin of a version that was never released fails the build on the controller, naming it:
    no host gets a new release, the live one keeps serving."""
    live_before = host.file("/srv/demo/current").linked_to
    before = set(releases(host))
    source = tmp_path / "missing-version"
    subprocess.run(
        [sys.executable, str(PROJECT / "examples" / "make_variant.py"), str(source), "--fault", "missing-version"],
        check=True,
    )
    rc, log = deploy(f"release_source_dir={source}", "deploy_backup=false")
    assert rc != 0, log[-3000:]
    assert "sqlparse==99.0.0" in log, log[-3000:]
    assert host.file("/srv/demo/current").linked_to == live_before
    assert set(releases(host)) == before
    status, _location, _body = fetch(host, "https://127.0.0.1/")
    assert status == 200


def test_a_failed_migration_is_printed_once(host, tmp_path):
    """The migrate error reaches the log once: the deploy's rescue names the step, not the error again.
    ansible-core 2.19 shows a failed task as an [ERROR] line and the fatal result: that counts as one."""
    live_before = host.file("/srv/demo/current").linked_to
    source = tmp_path / "migration-error"
    subprocess.run(
        [sys.executable, str(PROJECT / "examples" / "make_variant.py"), str(source), "--fault", "migration-error"],
        check=True,
    )
    rc, log = deploy(f"release_source_dir={source}", "deploy_backup=false")
    assert rc != 0, log[-3000:]
    assert "failed check: migrate" in log, log[-3000:]
    shown = [line for line in log.splitlines() if "injected fault: migration-error" in line]
    assert len([line for line in shown if not line.startswith("[ERROR]")]) == 1, "\n".join(shown)
    assert host.file("/srv/demo/current").linked_to == live_before
