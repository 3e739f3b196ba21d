"""What the benchmarks share: hosts in a lab of their own (tools/testhosts.py) and commands on
them over SSH with the lab's key."""

import json
import os
import re
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


def load_jsonl(path):
    """The JSON lines of a record file, or [] when a case wrote none (path is a pathlib.Path)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def scenario_records(scenario, directory, **env):
    """Run `molecule test -s scenario` with its records sent to directory (emptied first, made if
    missing) through the given environment variables; returns the run's seconds."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        stale.unlink()
    start = time.monotonic()
    subprocess.run(["molecule", "test", "-s", scenario], cwd=REPO, env=dict(os.environ, **env), check=True)
    return round(time.monotonic() - start, 1)


# ansible.posix.profile_tasks stamps every task's start: "<date> (<previous task>)  H:MM:SS.fff ****",
# the last figure being the time since the run's start. The recap's stamp is the run's end.
_BANNER = re.compile(r"^(PLAY|TASK|RUNNING HANDLER) \[(.*)\] \*+\s*$")
_STAMP = re.compile(r"\(\d+:\d\d:\d\d\.\d+\)\s+(\d+):(\d\d):(\d\d(?:\.\d+)?)\s+\*+\s*$")


def profile_tasks(log):
    """The tasks of a playbook run logged with profile_tasks: [(play, task, start_s, seconds)],
    start_s counted from the run's start, seconds up to the next task (or the recap)."""
    marks, play, task = [], None, None
    for line in log.splitlines():
        banner = _BANNER.match(line)
        if banner:
            if banner.group(1) == "PLAY":
                play = banner.group(2)
            else:
                task = banner.group(2)
            continue
        stamp = _STAMP.search(line)
        if stamp:
            hours, minutes, seconds = stamp.groups()
            marks.append((play, task, int(hours) * 3600 + int(minutes) * 60 + float(seconds)))
            task = None
    return [
        (play, task, start, round(end - start, 3))
        for (play, task, start), (_p, _t, end) in zip(marks, marks[1:], strict=False)
        if task is not None
    ]


def play_phases(tasks):
    """Seconds per play, in the order the plays ran: the phases of a deploy (build and prepare,
    migrate, the switch batches, ...)."""
    phases = {}
    for play, _task, _start, seconds in tasks:
        phases[play] = phases.get(play, 0) + seconds
    return {play: round(seconds, 1) for play, seconds in phases.items()}


def task_seconds(tasks, name):
    """Durations of the tasks called `name` (the part after "role : " in the banner)."""
    return [seconds for _play, task, _start, seconds in tasks if task.split(" : ")[-1] == name]


def first_answer(requests, instance, start, end):
    """When the first answer from `instance` (a substring of nginx's X-Vitals-Upstream) came back
    for a request sent between start and end, or None."""
    answered = [
        r["t"] + (r["latency_ms"] or 0) / 1000
        for r in requests
        if start <= r["t"] <= end and instance in (r.get("instance") or "") and r.get("status") == 200
    ]
    return min(answered) if answered else None


# The candidate's socket in nginx's X-Vitals-Upstream, and the rollout's gate and switch tasks.
CANDIDATE = "next.sock"
GATE_TASK = "Gate the candidate instance"
SWITCH_TASK = "Switch nginx to the candidate, check through nginx and make the release live"
# playbooks/tasks/event.yml's task for a switch step, and the start of the candidate in
# roles/gunicorn/tasks/candidate.yml (the release id follows; without one, the task is skipped).
STEP_TASK = "Record the step switch"
CANDIDATE_START_TASK = "Start the candidate instance of release 2"


def candidate_start_delays(tasks):
    """For each switch step in the log, in order: the seconds from the end of the task that records
    its start in the events file (its `t` is taken before that end) to the start of its candidate
    instance. At most that task's length too long: a switch time measured from it is not too short."""
    delays, recorded = [], None
    for _play, task, start, seconds in tasks:
        name = task.split(" : ")[-1]
        if name == STEP_TASK:
            recorded = start + seconds
        elif recorded is not None and name.startswith(CANDIDATE_START_TASK):
            delays.append(round(start - recorded, 3))
            recorded = None
    return delays


def host_steps(events, requests=(), candidate_delays=()):
    """Per host, the seconds between its steps: switch -> healthy / failed, rollback -> restored,
    switch -> nginx's first answer from the candidate and, with the candidates' start delays of
    candidate_start_delays (one per switch step, in order), the switch time: the candidate's start
    to that answer. Hosts switch one at a time (serial 1), so the candidate answering during a
    host's step is that host's."""
    phases = {}
    for event in sorted(events, key=lambda e: e["t"]):
        steps = phases.setdefault(event["host"], {})
        steps.setdefault(event["event"], event["t"])
    switched = sorted((steps["switch"], host) for host, steps in phases.items() if "switch" in steps)
    delays = {host: delay for (_t, host), delay in zip(switched, candidate_delays, strict=False)}
    figures = {}
    for host, steps in sorted(phases.items()):
        figure = {}
        end = steps.get("healthy", steps.get("failed"))
        if "switch" in steps and end is not None:
            answered = first_answer(requests, CANDIDATE, steps["switch"], end)
            if answered is not None:
                figure["switch_to_candidate_traffic_s"] = round(answered - steps["switch"], 2)
                if host in delays:
                    figure["switch_time_s"] = round(answered - steps["switch"] - delays[host], 2)
        for name, start, end in (
            ("switch_s", "switch", "healthy"),
            ("switch_to_failure_detected_s", "switch", "failed"),
            ("rollback_to_restored_s", "rollback", "restored"),
        ):
            if start in steps and end in steps:
                figure[name] = round(steps[end] - steps[start], 2)
        if figure:
            figures[host] = figure
    return figures


def deploy_timings(log_path):
    """A deploy's phases (seconds per play) and the durations of its gates and switch commands,
    from the playbook's log (profile_tasks); empty when the log is missing."""
    tasks = profile_tasks(log_path.read_text(encoding="utf-8")) if log_path.exists() else []
    return {
        "phases": play_phases(tasks),
        "gate_s": task_seconds(tasks, GATE_TASK),
        "switch_command_s": task_seconds(tasks, SWITCH_TASK),
        "candidate_start_delays_s": candidate_start_delays(tasks),
    }
