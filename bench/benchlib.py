"""What the benchmarks share: hosts in a lab of their own (tools/testhosts.py) and commands on
them over SSH with the lab's key."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTHOSTS = [sys.executable, str(REPO / "tools" / "testhosts.py")]
sys.path.insert(0, str(REPO / "tools"))

import testhosts  # noqa: E402

# The test hosts' one ssh command, for the benchmarks too.
ssh_argv = testhosts.ssh_argv


def sh(argv, **kwargs):
    """Run a command with text output; a non-zero exit raises."""
    return subprocess.run(argv, check=True, text=True, **kwargs)


def lab_up(lab, hosts):
    """Boot `hosts` ([{name, release, groups}]) in `lab`; the instance config of the first."""
    out = sh([*TESTHOSTS, "up", "--lab", lab, "--hosts-json", "-"], input=json.dumps(hosts), capture_output=True)
    return json.loads(out.stdout)[0]


def lab_down(lab):
    subprocess.run([*TESTHOSTS, "down", "--lab", lab], check=False)


def inventory_host(instance):
    """Inventory variables of a test host."""
    return {
        "ansible_host": instance["address"],
        "ansible_user": instance.get("user", "root"),
        "ansible_port": instance.get("port", 22),
        "ansible_ssh_private_key_file": instance["identity_file"],
        "ansible_ssh_common_args": " ".join(testhosts.HOST_KEY_OPTIONS),
    }


def ansible_playbook_path():
    """The venv's ansible-playbook, also when a benchmark runs under another Python."""
    exe = Path(sys.executable).with_name("ansible-playbook")
    return str(exe if exe.exists() else REPO / ".venv" / "bin" / "ansible-playbook")


def timed_playbook(inventory, playbook, **env):
    """Run a playbook with the repository's ansible.cfg (plus `env`); (CompletedProcess, wall seconds)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", **env)
    started = time.monotonic()
    proc = subprocess.run(
        [ansible_playbook_path(), "-i", str(inventory), str(playbook)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc, time.monotonic() - started


def checked_playbook(inventory, playbook, **env):
    """timed_playbook that stops the benchmark, with the end of the output, when the run fails;
    its wall seconds otherwise."""
    proc, elapsed = timed_playbook(inventory, playbook, **env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit("%s failed (rc %d)" % (Path(playbook).name, proc.returncode))
    return elapsed


def scenario_records(scenario, directory, **env):
    """Run `molecule test -s scenario` with its records sent to directory (emptied first, made if
    missing) through the given environment variables; returns the run's seconds."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        stale.unlink()
    start = time.monotonic()
    subprocess.run(["molecule", "test", "-s", scenario], cwd=REPO, env=dict(os.environ, **env), check=True)
    return round(time.monotonic() - start, 1)
