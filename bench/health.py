"""Benchmark: 20 checks in one vitals.django.health task vs. the same assertions as 20 builtin tasks.

Both playbooks run once, one after the other, from this controller against the same real Debian
test host (tools/testhosts.py, lab `healthbench`), over the same warmed SSH connection. The host
is a test host, not the controller's localhost, because the controller's PID 1 is not systemd and
the mix must include systemd checks. The mix: 6 http, 5 tcp, 4 postgres, 3 disk, 2 systemd.

    python3 bench/health.py [--release trixie] [--rounds 3] [--keep]

The two playbooks alternate for --rounds rounds (the machine is shared, so one sample can be hit by
someone else's load); the medians are compared. Prints both wall times and the ratio, writes
bench/results/health.json, removes the lab.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchlib

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent / "health"
LAB = "healthbench"
TARGET_RATIO = 5.0


def lab_up(release):
    return benchlib.lab_up(LAB, [{"name": "hb1", "release": release}])


def lab_down():
    benchlib.lab_down(LAB)


def write_inventory(instance, directory):
    inventory = Path(directory) / "hosts.yml"
    host = {**benchlib.inventory_host(instance), "ansible_python_interpreter": "/usr/bin/python3"}
    inventory.write_text(json.dumps({"all": {"hosts": {"hb1": host}}}))
    return inventory


def playbook(inventory, name):
    """Run one playbook of bench/health/; return its wall time in seconds."""
    return benchlib.checked_playbook(inventory, BENCH / name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="trixie", choices=["trixie", "bookworm"])
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each playbook (default 3)")
    parser.add_argument("--keep", action="store_true", help="leave the lab running")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        instance = lab_up(args.release)
        with tempfile.TemporaryDirectory(prefix="health-bench-") as work:
            inventory = write_inventory(instance, work)
            setup = playbook(inventory, "prepare.yml")  # servers and libraries; also warms the SSH connection
            samples = {"module.yml": [], "builtin.yml": []}
            for index in range(args.rounds):
                order = ("module.yml", "builtin.yml") if index % 2 else ("builtin.yml", "module.yml")
                for name in order:
                    samples[name].append(playbook(inventory, name))
    finally:
        if not args.keep:
            lab_down()
    module, builtin = statistics.median(samples["module.yml"]), statistics.median(samples["builtin.yml"])
    ratio = builtin / module
    result = {
        "part": "verify",
        "name": "health: 20 checks (6 http, 5 tcp, 4 postgres, 3 disk, 2 systemd)",
        "host": "test host %s (Debian %s) over SSH" % (instance["address"], args.release),
        "module_task_s": round(module, 2),
        "builtin_tasks_s": round(builtin, 2),
        "module_samples_s": [round(x, 2) for x in samples["module.yml"]],
        "builtin_samples_s": [round(x, 2) for x in samples["builtin.yml"]],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "ratio": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
        "prepare_s": round(setup, 2),
        "total_s": round(time.monotonic() - started, 1),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    results = REPO / "bench/results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "health.json").write_text(json.dumps(result, indent=2) + "\n")
    print("health: one vitals.django.health task with 20 checks: %.2f s (median of %d)" % (module, args.rounds))
    print("health: the same 20 assertions as 20 builtin tasks:   %.2f s (median of %d)" % (builtin, args.rounds))
    print("health: ratio %.1fx (target >= %.0fx): %s" % (ratio, TARGET_RATIO, "met" if result["met"] else "NOT met"))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
