"""Benchmark: first `ansible-playbook site.yml` on a fresh all-in-one host against a no-op re-run.

One real Debian test host (tools/testhosts.py, lab `bench_converge`) described by a copy of
inventories/sandbox/hosts.yml (its own lab, address and key) and the sandbox's group_vars, copied
to build/bench-converge/ (secrets are generated there, in .secrets/). site.yml runs twice, one
right after the other over the same SSH connection settings:

- first: everything is installed, configured and deployed;
- no-op: the same playbook again; nothing may change.

Each run uses the ansible.posix.json callback: its stats give the task and changed counts, its
per-task start/end times the slowest tasks of the no-op run (the profile that says where a
re-run spends its time). Target: no-op wall time at most 25% of the first, 0 changed.

    .venv/bin/python bench/converge.py [--release trixie] [--keep]

A third, small playbook measures the floor under both runs on the same host: one module call
(ansible.builtin.ping) against one raw SSH round trip, 20 of each. With the no-op run's module
calls counted from its record, calls x floor says how much of the no-op no task layout can save.

Writes bench/results/converge.json. --keep leaves the converged host running for
bench/serving.py --reuse (build/bench-converge/lab.json says where); without it the lab is removed.
"""

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import benchlib
import yaml

REPO = Path(__file__).resolve().parents[1]
LAB = "bench_converge"
HOST = "sandbox"
# Two levels below the checkout, like inventories/sandbox/: the sandbox group_vars find the
# example project at inventory_dir/../../examples/demo.
WORKDIR = REPO / "build" / "bench-converge"
LAB_FILE = WORKDIR / "lab.json"
SANDBOX = REPO / "inventories" / "sandbox"
TARGET_RATIO = 0.25
SLOWEST = 12
FLOOR_SAMPLES = 20
# Actions Ansible runs on the controller alone: no module reaches the host.
CONTROLLER_ACTIONS = frozenset(
    "ansible.builtin." + name
    for name in (
        "assert",
        "debug",
        "fail",
        "set_fact",
        "include_tasks",
        "include_role",
        "import_tasks",
        "import_role",
        "include_vars",
        "validate_argument_spec",
        "meta",
        "add_host",
        "group_by",
    )
)
# copy and template stat the destination first and run the file module after it, changed or not.
TWO_CALL_ACTIONS = frozenset({"ansible.builtin.copy", "ansible.builtin.template"})
FLOOR_PLAYBOOK = """---
- name: One raw SSH round trip against one module call, on the same host
  hosts: all
  gather_facts: false
  tasks:
    - name: Raw round trips
      ansible.builtin.raw: "true"
      changed_when: false
      loop: "{{ range(%(n)d) | list }}"
    - name: Module calls
      ansible.builtin.ping:
      loop: "{{ range(%(n)d) | list }}"
""" % {"n": FLOOR_SAMPLES}


def lab_up(release):
    return benchlib.lab_up(LAB, [{"name": HOST, "release": release, "groups": ["db", "app"]}])


def lab_down():
    benchlib.lab_down(LAB)
    LAB_FILE.unlink(missing_ok=True)


def bench_inventory(sandbox, instance, release, defaults):
    """The sandbox inventory pointed at the benchmark's host: its address, its lab's key.

    `defaults` go into all.vars, below group_vars/ in precedence, so the copied sandbox
    group_vars still decide every setting they name."""
    inventory = json.loads(json.dumps(sandbox))  # a deep copy that stays plain data
    top = inventory["all"]
    top.setdefault("vars", {})
    top["vars"]["ansible_ssh_private_key_file"] = instance["identity_file"]
    top["vars"]["ansible_user"] = instance.get("user", "root")
    for name, value in defaults.items():
        top["vars"].setdefault(name, value)
    hosts = top.setdefault("hosts", {})
    if HOST not in hosts or hosts[HOST] is None:
        hosts[HOST] = {}
    hosts[HOST]["ansible_host"] = instance["address"]
    hosts[HOST]["ansible_port"] = instance.get("port", 22)
    hosts[HOST]["testhost_release"] = release
    return inventory


def write_inventory(instance, release, directory=WORKDIR):
    """build/bench-converge/hosts.yml plus a copy of the sandbox's group_vars/ beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(directory / "group_vars", ignore_errors=True)
    shutil.rmtree(directory / ".secrets", ignore_errors=True)  # a fresh host gets fresh secrets
    shutil.copytree(SANDBOX / "group_vars", directory / "group_vars")
    sandbox = yaml.safe_load((SANDBOX / "hosts.yml").read_text(encoding="utf-8"))
    # The sandbox names these in group_vars on some checkouts only; a copy elsewhere must
    # still find the example project and size PostgreSQL for a small host.
    defaults = {"release_source_dir": str(REPO / "examples" / "demo"), "postgresql_memory_mb": 1024}
    inventory = bench_inventory(sandbox, instance, release, defaults)
    path = directory / "hosts.yml"
    path.write_text("---\n" + yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    return path


def run_playbook(inventory, playbook="site.yml", label="run"):
    """Run a playbook with the json callback; return (wall seconds, parsed callback output)."""
    proc, elapsed = benchlib.timed_playbook(inventory, playbook, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    try:
        data = json.loads(proc.stdout[proc.stdout.index("{") :])
    except ValueError:
        data = None
    if data is not None:
        # The whole record stays beside the inventory for a closer look at a slow or failed run.
        (Path(inventory).parent / ("%s.json" % label)).write_text(json.dumps(data, indent=1), encoding="utf-8")
    if proc.returncode != 0 or data is None:
        sys.stderr.write((proc.stdout[-3000:] if data is None else "") + proc.stderr[-3000:])
        if data is not None:
            for failure in failed_tasks(data):
                sys.stderr.write("failed: %s\n" % failure)
        raise SystemExit("%s failed (rc %d)" % (playbook, proc.returncode))
    return elapsed, data


def failed_tasks(data):
    return [
        "%s on %s: %s" % (task["task"]["name"], host, str(result.get("msg", ""))[:300])
        for play in data.get("plays", [])
        for task in play.get("tasks", [])
        for host, result in task.get("hosts", {}).items()
        if result.get("failed") or result.get("unreachable")
    ]


def recap(data):
    """Totals over all hosts of the run's stats (the PLAY RECAP); `tasks` = results that ran."""
    keys = ("ok", "changed", "failures", "skipped", "unreachable", "rescued", "ignored")
    totals = dict.fromkeys(keys, 0)
    for stats in data.get("stats", {}).values():
        for key in keys:
            totals[key] += stats.get(key, 0)
    # `ok` already counts the changed results; failed ones ran too.
    totals["tasks"] = totals["ok"] + totals["failures"]
    return totals


def _seconds(duration):
    def parse(stamp):
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return (parse(duration["end"]) - parse(duration["start"])).total_seconds()


def task_times(data):
    """Every task of the run with its wall time (the callback's start/end) and outcome."""
    rows = []
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            info = task.get("task", {})
            duration = info.get("duration") or {}
            if not duration.get("start") or not duration.get("end"):
                continue
            results = task.get("hosts", {}).values()
            rows.append(
                {
                    "task": info.get("name", ""),
                    "play": play.get("play", {}).get("name", ""),
                    "seconds": round(_seconds(duration), 3),
                    "changed": any(r.get("changed") for r in results),
                    "skipped": bool(results) and all(r.get("skipped") for r in results),
                }
            )
    return rows


def module_calls(data):
    """Module executions on hosts in a run: one per host and loop item that ran, two for copy and template."""
    calls = 0
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                action = result.get("action", "")
                if result.get("skipped") or action in CONTROLLER_ACTIONS:
                    continue
                items = result.get("results")
                ran = sum(1 for item in items if not item.get("skipped")) if items is not None else 1
                calls += ran * (2 if action in TWO_CALL_ACTIONS else 1)
    return calls


def floor_times(data, samples=FLOOR_SAMPLES):
    """(raw round trip, module call) in seconds from the floor playbook's record."""
    per_item = {row["task"]: row["seconds"] / samples for row in task_times(data)}
    return per_item["Raw round trips"], per_item["Module calls"]


def slowest(rows, count=SLOWEST):
    return sorted(rows, key=lambda row: row["seconds"], reverse=True)[:count]


def changed_tasks(rows):
    return [row["task"] for row in rows if row["changed"]]


def figures(first_s, first, noop_s, noop, floor=None):
    ratio = noop_s / first_s
    first_recap, noop_recap = recap(first), recap(noop)
    noop_rows = task_times(noop)
    calls = module_calls(noop)
    floor_figures = {}
    if floor is not None:
        raw_s, call_s = floor_times(floor)
        floor_figures = {
            "raw_round_trip_s": round(raw_s, 3),
            "module_call_s": round(call_s, 3),
            "noop_calls_at_floor_s": round(calls * call_s, 1),
            "floor_ratio": round(calls * call_s / first_s, 3),
        }
    return {
        "part": "converge",
        "first_s": round(first_s, 1),
        "noop_s": round(noop_s, 1),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "first": first_recap,
        "noop": noop_recap,
        "noop_changed_tasks": changed_tasks(noop_rows),
        "noop_tasks_s": round(sum(row["seconds"] for row in noop_rows), 1),
        "noop_module_calls": calls,
        **floor_figures,
        "noop_slowest_tasks": slowest(noop_rows),
        "first_slowest_tasks": slowest(task_times(first)),
        "met": ratio <= TARGET_RATIO and noop_recap["changed"] == 0 and noop_recap["failures"] == 0,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="trixie", choices=["trixie", "bookworm"])
    parser.add_argument("--keep", action="store_true", help="leave the converged host running (for serving.py)")
    args = parser.parse_args()
    started = time.monotonic()
    kept = False
    try:
        lab_down()  # a lab left behind by an interrupted run is not fresh
        instance = lab_up(args.release)
        inventory = write_inventory(instance, args.release)
        first_s, first = run_playbook(inventory, label="first")
        noop_s, noop = run_playbook(inventory, label="noop")
        floor_playbook = WORKDIR / "floor.yml"
        floor_playbook.write_text(FLOOR_PLAYBOOK, encoding="utf-8")
        _floor_s, floor = run_playbook(inventory, playbook=floor_playbook, label="floor")
        if args.keep:
            LAB_FILE.write_text(
                json.dumps({"lab": LAB, "instance": instance, "inventory": str(inventory)}, indent=2) + "\n",
                encoding="utf-8",
            )
            kept = True
    finally:
        if not kept:
            lab_down()
    result = figures(first_s, first, noop_s, noop, floor)
    result.update(
        {
            "host": "test host %s (Debian %s), all-in-one (db + app)" % (instance["address"], args.release),
            "command": "ansible-playbook -i build/bench-converge/hosts.yml site.yml",
            "load_average_1m": round(os.getloadavg()[0], 2),
            "total_s": round(time.monotonic() - started, 1),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    out = REPO / "bench" / "results" / "converge.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        "converge: first site.yml %.1f s (%s tasks, %s changed)"
        % (first_s, result["first"]["tasks"], result["first"]["changed"])
    )
    print(
        "converge: no-op re-run   %.1f s (%s tasks, %s changed)"
        % (noop_s, result["noop"]["tasks"], result["noop"]["changed"])
    )
    print(
        "converge: ratio no-op/first %.2f (target <= %.2f, 0 changed): %s"
        % (result["ratio"], TARGET_RATIO, "met" if result["met"] else "NOT met")
    )
    print(
        "converge: the no-op makes %d module calls; at %.3f s per call (ping; a raw SSH round trip takes %.3f s)"
        " they alone take %.1f s, %.2f of the first run"
        % (
            result["noop_module_calls"],
            result["module_call_s"],
            result["raw_round_trip_s"],
            result["noop_calls_at_floor_s"],
            result["floor_ratio"],
        )
    )
    for row in result["noop_slowest_tasks"][:8]:
        print("  no-op %6.2f s  %s" % (row["seconds"], row["task"]))
    if kept:
        print("converge: host kept for bench/serving.py --reuse (%s)" % LAB_FILE.relative_to(REPO))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
