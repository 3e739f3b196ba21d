"""Benchmark of deploys on one all-in-one host under load (part of `make bench`).

Runs the Molecule scenario `default` on trixie, whose test_single_host_rollout.py deploys under load
from tools/loadgen.py (40 requests/s through nginx): a good release through deploy.yml, a broken one
(home page 500) through site.yml, a rollback through rollback.yml and a deploy with nothing new.
Its records go to bench/results/single-host/; this reports, per case:
  - requests, non-2xx answers and answers by the broken release's instance (0 each, by nginx's
    X-Vitals-Upstream header);
  - the longest gap between two answers (at most 1 s);
  - p99 latency in the switch window (the rollout step's start to the live release behind nginx)
    against the steady p99 outside it (at most 2x);
  - the playbook's wall time, and deploy.yml with nothing new as a share of a real deploy (<= 20%);
  - the time per phase (per play, from the playbook's log: the test runs it with profile_tasks),
    the gate's and the switch command's time, and the switch time: the step's start to nginx's
    first answer from the candidate;
  - the host's memory (summed PSS of every process): idle before the deploy, peak in the window.
Writes bench/results/single-host.json.

    .venv/bin/python bench/single_host.py            # run the scenario, then report
    .venv/bin/python bench/single_host.py --no-run   # report on the records of the last run
"""

import argparse
import json
import pathlib
import sys
import time

import benchlib  # puts tools/ on the path, for loadgen
import loadgen

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

CASES = ("deploy-v2", "site-v3-health-500", "rollback", "deploy-nothing-new")
# The step's start and its end, by the deploy events file (playbooks/tasks/event.yml).
WINDOW_END = ("healthy", "failed", "restored")


def switch_window(events):
    """(start, end) of the first rollout step in the events, or None when nothing switched."""
    starts = [e["t"] for e in events if e["event"] in ("switch", "rollback")]
    if not starts:
        return None
    ends = [e["t"] for e in events if e["event"] in WINDOW_END and e["t"] >= starts[0]]
    return (starts[0], ends[0]) if ends else None


def memory_figures(samples_text, window):
    """Idle (the first sample) and the peak inside the window, in MiB, from 't kB' lines."""
    samples = []
    for line in samples_text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            samples.append((float(parts[0]), int(parts[1])))
    if not samples:
        return {}
    inside = [kb for t, kb in samples if window and window[0] <= t <= window[1]]
    figures = {"idle_mib": round(samples[0][1] / 1024, 1)}
    if inside:
        figures["window_peak_mib"] = round(max(inside) / 1024, 1)
        figures["window_extra_mib"] = round((max(inside) - samples[0][1]) / 1024, 1)
    return figures


def case_report(directory, case):
    summary = json.loads((directory / f"{case}-summary.json").read_text(encoding="utf-8"))
    requests = benchlib.load_jsonl(directory / f"{case}-requests.jsonl")
    window = switch_window(benchlib.load_jsonl(directory / f"{case}-events.jsonl"))
    run_path = directory / f"{case}-run.json"
    memory_path = directory / f"{case}-memory.txt"
    # nginx sends the candidate its first request: the end of the switch time.
    candidate_answer = benchlib.first_answer(requests, benchlib.CANDIDATE, *window) if window else None
    timings = benchlib.deploy_timings(directory / f"{case}-ansible.log")
    delays = timings["candidate_start_delays_s"]
    figures = {
        "requests": summary["total"],
        "failed_requests": summary["failed"],
        "by_release": summary["by_release"],
        "by_instance": summary.get("by_instance", {}),
        "max_gap_s": summary.get("max_gap_s"),
        "playbook_s": json.loads(run_path.read_text(encoding="utf-8"))["seconds"] if run_path.exists() else None,
        "switch_window_s": round(window[1] - window[0], 2) if window else None,
        "memory": memory_figures(memory_path.read_text(encoding="utf-8"), window) if memory_path.exists() else {},
        "switch_to_candidate_traffic_s": round(candidate_answer - window[0], 2) if candidate_answer else None,
        # The candidate's start to its first answer through nginx, the gate included.
        "switch_time_s": round(candidate_answer - window[0] - delays[0], 2) if candidate_answer and delays else None,
        **timings,
    }
    if window:
        figures.update(loadgen.window_latency(requests, *window))
    return figures


def report(directory):
    cases = {case: case_report(directory, case) for case in CASES if (directory / f"{case}-summary.json").exists()}
    result = {
        "part": "single-host",
        "cases": cases,
        "failed_requests": sum(c["failed_requests"] for c in cases.values()),
        "requests": sum(c["requests"] for c in cases.values()),
        # nginx names the instance that answered: the broken release's is the candidate socket.
        "answered_by_broken_release": sum(
            count
            for instance, count in cases.get("site-v3-health-500", {}).get("by_instance", {}).items()
            if "next" in instance
        ),
    }
    real, noop = cases.get("deploy-v2", {}).get("playbook_s"), cases.get("deploy-nothing-new", {}).get("playbook_s")
    if real and noop:
        result["nothing_new_share"] = round(noop / real, 2)
    return result


def print_report(result):
    print(f"{'case':22} {'requests':>8} {'failed':>6} {'gap s':>6} {'p99 win/steady ms':>18} {'run s':>6}  memory MiB")
    for case, c in result["cases"].items():
        p99 = f"{c.get('window_p99_ms') or '-'}/{c.get('steady_p99_ms') or '-'}"
        memory = c["memory"]
        mem = f"idle {memory.get('idle_mib', '-')}, peak {memory.get('window_peak_mib', '-')}"
        print(
            f"{case:22} {c['requests']:>8} {c['failed_requests']:>6} {c['max_gap_s']:>6} {p99:>18}"
            f" {c['playbook_s'] or '-':>6}  {mem}"
        )
    for case, c in result["cases"].items():
        if c["phases"]:
            print(f"{case} phases: " + ", ".join(f"{play} {s} s" for play, s in c["phases"].items()))
        if c["switch_time_s"] is not None:
            print(f"{case}: switch time (the candidate's start to its first answer) {c['switch_time_s']} s")
    print(f"failed requests: {result['failed_requests']} of {result['requests']} (must be 0)")
    print(f"answered by the broken release: {result['answered_by_broken_release']} (must be 0)")
    if "nothing_new_share" in result:
        print(f"deploy.yml with nothing new: {result['nothing_new_share']:.0%} of a real deploy's time (<= 20%)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--no-run", action="store_true", help="only report on the records of the last run")
    args = parser.parse_args(argv)
    directory = RESULTS / "single-host"
    if not args.no_run:
        benchlib.scenario_records(
            "default", directory, VITALS_SINGLE_HOST_RESULTS=str(directory), VITALS_TEST_RELEASE="trixie"
        )
    result = report(directory)
    if not args.no_run:
        result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (RESULTS / "single-host.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_report(result)
    ok = result["cases"] and result["failed_requests"] == 0 and result["answered_by_broken_release"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
