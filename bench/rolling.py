"""Benchmark of the rolling deploy (part of `make bench`): a 2-app-host rollout under load.

Runs the Molecule scenario `rolling` (lb, app1, app2, db; deploy v2, five broken v3, rollback to v1,
a deploy whose controller dies mid-switch and the run after it, each under tools/loadgen.py) with
its records sent to bench/results/rolling/, then reports:
  - per host, the switch time: from the start of its rollout step (candidate started, gated) to
    nginx's first answer from the candidate, and the whole step, to the release live behind nginx
    (deploy v2, the rollback to v1);
  - per broken release, the time from the start of the step to the recorded failure, and the
    gate's time (the candidate up to its failure reported; the live release answers users
    throughout);
  - the time per phase (per play, from the playbook's log: the scenario runs it with
    profile_tasks);
  - failed requests out of the total sent, the answers per gunicorn instance and the longest gap
    between two answers, per deploy (0 failed);
and draws each deploy as a timeline PNG (bench/timeline.py). Writes bench/results/rolling.json.

    .venv/bin/python bench/rolling.py            # run the scenario, then report
    .venv/bin/python bench/rolling.py --no-run   # report on the records of the last run
"""

import argparse
import json
import pathlib
import sys
import time

import benchlib
import timeline

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CASES = (
    "deploy-v2",
    "deploy-v3-import-error",
    "deploy-v3-health-500",
    "deploy-v3-slow-start",
    "deploy-v3-migration-error",
    "deploy-v3-through-nginx",
    "rollback-v1",
    "after-ssh-drop",
)


def case_report(directory, case):
    summary = json.loads((directory / f"{case}-summary.json").read_text(encoding="utf-8"))
    events = benchlib.load_jsonl(directory / f"{case}-events.jsonl")
    requests = benchlib.load_jsonl(directory / f"{case}-requests.jsonl")
    timings = benchlib.deploy_timings(directory / f"{case}-ansible.log")
    return (
        {
            "requests": summary["total"],
            "failed_requests": summary["failed"],
            "by_release": summary["by_release"],
            "by_instance": summary.get("by_instance", {}),
            "max_gap_s": summary.get("max_gap_s"),
            "latency_ms": summary["latency_ms"],
            "hosts": benchlib.host_steps(events, requests, timings["candidate_start_delays_s"]),
            **timings,
        },
        events,
        requests,
    )


def report(directory):
    cases, drawn = {}, []
    for case in CASES:
        if not (directory / f"{case}-summary.json").exists():
            continue
        cases[case], events, requests = case_report(directory, case)
        png = RESULTS / f"rolling-{case}.png"
        timeline.draw(requests, events, case, png)
        drawn.append(str(png.relative_to(ROOT)))
    return {
        "part": "rolling",
        "app_hosts": 2,
        "cases": cases,
        "failed_requests": sum(c["failed_requests"] for c in cases.values()),
        "requests": sum(c["requests"] for c in cases.values()),
        "timelines": drawn,
    }


def print_report(result):
    print(f"{'case':28} {'requests':>8} {'failed':>6}  host: seconds")
    for case, figures in result["cases"].items():
        hosts = "; ".join(
            f"{host}: " + ", ".join(f"{name[:-2]} {value}" for name, value in steps.items())
            for host, steps in figures["hosts"].items()
        )
        print(f"{case:28} {figures['requests']:>8} {figures['failed_requests']:>6}  {hosts}")
        if figures["phases"]:
            print(" " * 30 + "phases: " + ", ".join(f"{play} {s} s" for play, s in figures["phases"].items()))
    print(f"failed requests: {result['failed_requests']} of {result['requests']} (must be 0)")
    for png in result["timelines"]:
        print(f"timeline: {png}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--no-run", action="store_true", help="only report on the records of the last run")
    args = parser.parse_args(argv)
    directory = RESULTS / "rolling"
    run_s = None
    if not args.no_run:
        run_s = benchlib.scenario_records("rolling", directory, ROLLING_ARTIFACTS_DIR=str(directory))
    result = report(directory)
    result["scenario_s"] = run_s
    # With --no-run the records are older than now: only a run dates its result.
    if run_s is not None:
        result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (RESULTS / "rolling.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_report(result)
    if run_s is not None:
        print(f"molecule test -s rolling: {run_s} s")
    return 0 if result["cases"] and result["failed_requests"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
