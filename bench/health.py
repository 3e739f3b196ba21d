"""Benchmark: 20 checks in one vitals.django.health task vs. 20 builtin tasks, and the gate's verdict times.

Both playbooks run once, one after the other, from this controller against the same real Debian
test host (tools/testhosts.py, lab `healthbench`), over the same warmed SSH connection. The host
is a test host, not the controller's localhost, because the controller's PID 1 is not systemd and
the mix must include systemd checks. The mix: 6 http, 5 tcp, 4 postgres, 3 disk, 2 systemd.

    python3 bench/health.py [--release trixie] [--rounds 3] [--keep]

The two playbooks alternate for --rounds rounds (the machine is shared, so one sample can be hit by
someone else's load); the medians are compared.

Then the gate (gate.yml, verify's window of 30 s and delay of 2 s) on the same host, healthy and
with one added check: a failing warning (target: adds under 1 s), a steady critical failure, an
app whose unit is stopped (target: reported within 5 s of the gate starting, whatever the window),
and a transient one, 503 for 3 s (target: passes). Each is reported as wall time over the healthy
run (medians of --rounds), and the added check's own time from the module's result.

Prints the figures, writes bench/results/health.json, removes the lab.
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
# VITALS_LAB_TAG prefixes the lab, as for molecule, so two checkouts can benchmark at once.
LAB = os.environ.get("VITALS_LAB_TAG", "") + "healthbench"
TARGET_RATIO = 5.0
GATE_SCENARIOS = ("healthy", "warning", "critical", "transient")
TARGET_WARNING_S = 1.0
TARGET_CRITICAL_S = 5.0


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


def gate(inventory, work, scenario):
    """One gate run -> (wall seconds, the added check's result or None)."""
    result_file = Path(work) / ("gate-%s.json" % scenario)
    elapsed = benchlib.checked_playbook(
        inventory, BENCH / "gate.yml", BENCH_GATE_SCENARIO=scenario, BENCH_GATE_RESULT=str(result_file)
    )
    checks = json.loads(result_file.read_text())["checks"]
    return elapsed, (checks[-1] if scenario != "healthy" else None)


def gate_figures(samples, added):
    """Medians over healthy, and whether each target is met."""
    healthy = statistics.median(samples["healthy"])
    over = {s: round(statistics.median(samples[s]) - healthy, 2) for s in GATE_SCENARIOS[1:]}
    critical_s = statistics.median(r["duration_ms"] / 1000.0 for r in added["critical"])
    return {
        "healthy_s": round(healthy, 2),
        "over_healthy_s": over,
        "samples_s": {s: [round(x, 2) for x in v] for s, v in samples.items()},
        "added_check": {
            s: {k: added[s][-1][k] for k in ("status", "stopped", "attempts", "duration_ms")} for s in added
        },
        "critical_verdict_s": round(critical_s, 2),
        "targets": {
            "warning_adds_under_s": TARGET_WARNING_S,
            "critical_reported_within_s": TARGET_CRITICAL_S,
            "transient_passes": True,
        },
        "met": {
            "warning": over["warning"] < TARGET_WARNING_S and all(r["status"] == "warning" for r in added["warning"]),
            "critical": critical_s < TARGET_CRITICAL_S and all(r["status"] == "critical" for r in added["critical"]),
            "transient": all(r["status"] == "ok" for r in added["transient"]),
        },
    }


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
            gate_samples = {s: [] for s in GATE_SCENARIOS}
            added = {s: [] for s in GATE_SCENARIOS[1:]}
            for _round in range(args.rounds):
                for scenario in GATE_SCENARIOS:
                    elapsed, check = gate(inventory, work, scenario)
                    gate_samples[scenario].append(elapsed)
                    if check is not None:
                        added[scenario].append(check)
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
        "gate": gate_figures(gate_samples, added),
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
    figures = result["gate"]
    print("gate: healthy %.2f s (median of %d)" % (figures["healthy_s"], args.rounds))
    for scenario in GATE_SCENARIOS[1:]:
        check = figures["added_check"][scenario]
        print(
            "gate: %-9s %+.2f s over healthy; the added check: %s (%s, %d attempts, %.2f s): %s"
            % (
                scenario,
                figures["over_healthy_s"][scenario],
                check["status"],
                check["stopped"],
                check["attempts"],
                check["duration_ms"] / 1000.0,
                "met" if figures["met"][scenario] else "NOT met",
            )
        )
    return 0 if result["met"] and all(figures["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
