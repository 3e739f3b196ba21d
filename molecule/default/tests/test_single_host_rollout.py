"""Deploys on one host under load (issue 13): a good release through deploy.yml, the same again
(nothing new), a broken one (home page 500) through site.yml and a rollback through rollback.yml, each
while tools/loadgen.py sends 40 requests/s from the controller through nginx. Users are answered by
the live release throughout: no non-2xx answer, none by the broken release's instance (nginx's
X-Vitals-Upstream), never more than 1 s without an answer. The switch hooks
(deploy_before/after_switch_tasks) run only for a release that passed its gate.

With VITALS_SINGLE_HOST_RESULTS set (bench/single_host.py), each case's requests, summary, deploy
events, the playbook's wall time and the host's memory samples are kept there for the benchmark's report.
Runs on the first Debian release of the default scenario only (trixie): the mechanism is the same on
bookworm, and make test stays under its time budget.
"""

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
RELEASE = os.environ.get("VITALS_TEST_RELEASE", "trixie")
RESULTS = os.environ.get("VITALS_SINGLE_HOST_RESULTS")
LAB_STATE = Path("/var/lib/vitals-testhosts")
LIVE_SOCKET = "unix:/run/demo/gunicorn.sock"
CANDIDATE_SOCKET = "unix:/run/demo/next.sock"
sys.path.insert(0, str(PROJECT / "tools"))
import loadgen  # noqa: E402  (tools/ is not a package)

pytestmark = pytest.mark.skipif(RELEASE != "trixie", reason="the single-host rollout runs on trixie only")

# The summed PSS of every process on the host, every 0.2 s: its peak during the switch window
# against idle is the memory a side-by-side switch costs.
MEMORY_SAMPLER = (
    "while :; do echo $(date +%s.%N) $(cat /proc/[0-9]*/smaps_rollup 2>/dev/null"
    " | awk '/^Pss:/ {s += $2} END {print s}'); sleep 0.2; done"
)


def lab_of(address):
    """The testhosts lab whose hosts include `address`: loadgen sends only to a lab's hosts."""
    for state in LAB_STATE.glob("*/state.json"):
        if address in loadgen.lab_addresses(json.loads(state.read_text(encoding="utf-8"))):
            return state.parent.name
    raise AssertionError(f"no testhosts lab has {address}")


def current_release(host):
    rid = Path(host.file("/srv/demo/current").linked_to).name
    return rid, json.loads(host.file(f"/srv/demo/releases/{rid}/release.json").content_string)


def variant(tmp_path, name, *args):
    source = tmp_path / name
    subprocess.run([sys.executable, str(PROJECT / "examples" / "make_variant.py"), str(source), *args], check=True)
    return source


def under_load(host, out, name, playbook, *extra_vars):
    """Run a playbook against the host while loadgen sends requests through nginx:
    (rc, output, the load summary, the deploy events)."""
    address = host.ansible.get_variables()["ansible_host"]
    base = out / name
    stop = Path(f"{base}.stop")
    load = subprocess.Popen(
        [
            sys.executable,
            str(PROJECT / "tools" / "loadgen.py"),
            f"--lab={lab_of(address)}",
            f"--url=https://{address}/",
            "--host-header=sandbox.test",
            "--insecure",
            "--concurrency=4",
            "--rate=40",
            "--max-duration=600",
            "--max-requests=30000",
            f"--stop-file={stop}",
            f"--out={base}-requests.jsonl",
            f"--summary={base}-summary.json",
        ],
        stdout=subprocess.DEVNULL,
    )
    host.run_expect(
        [0],
        "systemd-run --unit=vitals-memory-sample --collect sh -c "
        + shlex.quote(MEMORY_SAMPLER + f" > /tmp/{name}-memory.txt"),
    )
    try:
        time.sleep(3)  # steady state before the deploy starts
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
        argv += [str(PROJECT / playbook), "-e", f"deploy_events_file={base}-events.jsonl"]
        for extra in extra_vars:
            argv += ["-e", extra]
        started = time.monotonic()
        # profile_tasks stamps each task: the benchmark sums the deploy's phases from the log.
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
        run = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        seconds = round(time.monotonic() - started, 1)
        time.sleep(3)  # a host left broken would show in these seconds
    finally:
        stop.touch()
        load.wait(timeout=60)
        host.run("systemctl stop vitals-memory-sample.service")
    Path(f"{base}-memory.txt").write_text(host.file(f"/tmp/{name}-memory.txt").content_string, encoding="utf-8")
    Path(f"{base}-ansible.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    Path(f"{base}-run.json").write_text(json.dumps({"rc": run.returncode, "seconds": seconds}) + "\n", encoding="utf-8")
    summary = json.loads(Path(f"{base}-summary.json").read_text(encoding="utf-8"))
    events_path = Path(f"{base}-events.jsonl")
    events = (
        [json.loads(line) for line in events_path.read_text(encoding="utf-8").splitlines()]
        if events_path.exists()
        else []
    )
    return run.returncode, run.stdout + run.stderr, summary, events


def assert_users_answered(name, summary):
    assert summary["total"] > 100, f"{name}: {summary}"
    assert summary["failed"] == 0, f"{name}: {summary['failed']} of {summary['total']} failed: {summary['by_status']}"
    assert summary["max_gap_s"] <= 1.0, f"{name}: users waited {summary['max_gap_s']} s for an answer"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    if RESULTS:
        Path(RESULTS).mkdir(parents=True, exist_ok=True)
        return Path(RESULTS)
    return tmp_path_factory.mktemp("single-host")


# A switch hook writes the release it ran for on the host: after_switch runs once the release is
# live, before_switch only once its gate passed (never for the broken release).
HOOK = """- name: Note the {when} switch hook
  ansible.builtin.copy:
    content: "{{{{ rollout_release }}}}\\n"
    dest: /tmp/{when}-switch-hook
    mode: "0644"
"""


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hooks")
    files = {}
    for when in ("before", "after"):
        files[when] = tmp / f"{when}.yml"
        files[when].write_text(HOOK.format(when=when), encoding="utf-8")
    return [f"deploy_{when}_switch_tasks={path}" for when, path in files.items()]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sources")
    return {
        "v2": variant(tmp, "v2", "--label", "v2"),
        "v3-health-500": variant(tmp, "v3-health-500", "--label", "v3", "--fault", "health-500"),
    }


def test_a_good_release_switches_without_a_failed_request(host, out, sources, hooks):
    rc, log, summary, events = under_load(
        host,
        out,
        "deploy-v2",
        "playbooks/deploy.yml",
        f"release_source_dir={sources['v2']}",
        "deploy_backup=false",
        *hooks,
    )
    assert rc == 0, log[-3000:]
    rid, live = current_release(host)
    for when in ("before", "after"):
        assert host.file(f"/tmp/{when}-switch-hook").content_string.strip() == rid, when
    assert live["version"].startswith("v2") and live["status"] == "live", live
    assert_users_answered("deploy-v2", summary)
    # nginx names the instance that answered (X-Vitals-Upstream): the candidate served during the
    # switch window, the live instance before and after it.
    assert set(summary["by_instance"]) == {LIVE_SOCKET, CANDIDATE_SOCKET}, summary["by_instance"]
    assert {"switch", "healthy"} <= {e["event"] for e in events}, events


def test_a_deploy_with_nothing_new_changes_nothing(host, out, sources):
    """The same project directory again, right after its deploy: the live release holds its
    artifact, so nothing is prepared, started or switched, and the run stops before the lock."""
    live_id, _live = current_release(host)
    releases = host.check_output("ls /srv/demo/releases").split()
    rc, log, summary, events = under_load(
        host,
        out,
        "deploy-nothing-new",
        "playbooks/deploy.yml",
        f"release_source_dir={sources['v2']}",
        "deploy_backup=false",
    )
    assert rc == 0, log[-3000:]
    assert "Nothing new to deploy: aio runs " + live_id in log, log[-3000:]
    assert "Take the deploy lock" not in log
    assert current_release(host)[0] == live_id
    assert host.check_output("ls /srv/demo/releases").split() == releases
    assert "switch" not in {e["event"] for e in events}, events
    assert_users_answered("deploy-nothing-new", summary)


def test_a_broken_release_through_site_yml_never_answers_a_user(host, out, sources, hooks):
    live_id, live = current_release(host)
    host.run_expect([0], "rm -f /tmp/before-switch-hook /tmp/after-switch-hook")
    rc, log, summary, _events = under_load(
        host,
        out,
        "site-v3-health-500",
        "site.yml",
        f"release_source_dir={sources['v3-health-500']}",
        "deploy_backup=false",
        *hooks,
    )
    assert rc != 0, log[-3000:]
    assert not host.file("/tmp/before-switch-hook").exists, "a switch hook ran for a release that failed its gate"
    assert "failed check:" in log, log[-3000:]
    assert current_release(host)[0] == live_id, "the broken release went live"
    assert_users_answered("site-v3-health-500", summary)
    assert set(summary["by_instance"]) == {LIVE_SOCKET}, (
        f"the broken candidate answered users: {summary['by_instance']}"
    )
    newest = sorted(host.check_output("ls /srv/demo/releases").split())[-1]
    record = json.loads(host.file(f"/srv/demo/releases/{newest}/release.json").content_string)
    assert record["version"].startswith("v3") and record["status"] == "failed", record
    assert live["status"] == "live"


def test_a_rollback_goes_back_through_the_gate(host, out):
    rc, log, summary, _events = under_load(host, out, "rollback", "playbooks/rollback.yml")
    assert rc == 0, log[-3000:]
    _rid, live = current_release(host)
    assert not live["version"].startswith(("v2", "v3")), live
    assert_users_answered("rollback", summary)
