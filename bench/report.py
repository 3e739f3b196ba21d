"""The table of `make bench`: every part's figure, ratio, target and raw times, from bench/results/*.json.

Reads the result of each part (verify: health.json, converge.json, rolling.json, serving.json,
backup.json, memory.json), prints one table, writes bench/results.json (the rows plus every
part's full result) and bench/results/README-table.md (the same table in Markdown, for the
README's performance section). A part without a result shows as missing.

    .venv/bin/python bench/report.py [--since EPOCH_SECONDS]

Exits 1 when a part is missing or stale (with --since, `make bench` passes its start: a part
that failed before writing its result leaves an earlier one behind) or a target is not met.
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
# (part, result file), in the order.
PARTS = (
    ("1 verify", "health.json"),
    ("2 converge", "converge.json"),
    ("3 rolling", "rolling.json"),
    ("4 serving", "serving.json"),
    ("5 backup", "backup.json"),
    ("6 memory", "memory.json"),
    ("7 single host", "single-host.json"),
)
COLUMNS = ("part", "figure", "ratio", "target", "result", "raw")


def row(part, figure, ratio, target, met, *, raw):
    """met: True / False, or None for a figure that has no target (reported, not judged)."""
    return {
        "part": part,
        "figure": figure,
        "ratio": ratio,
        "target": target,
        "result": {True: "pass", False: "FAIL", None: "-"}[met],
        "raw": raw,
    }


def verify_rows(part, data):
    return [
        row(
            part,
            "20 checks: builtin tasks / one health task",
            "%.1fx" % data["ratio"],
            ">= %gx" % data["target_ratio"],
            data["ratio"] >= data["target_ratio"],
            raw="health task %.2f s, 20 builtin tasks %.2f s (medians of %d)"
            % (data["module_task_s"], data["builtin_tasks_s"], len(data.get("module_samples_s", [])) or 1),
        )
    ] + gate_rows(part, data.get("gate"))


def gate_rows(part, gate):
    if not gate:
        return []
    over, met, targets = gate["over_healthy_s"], gate["met"], gate["targets"]
    return [
        row(
            part,
            "gate with a failing warning, over healthy",
            "%+.2f s" % over["warning"],
            "< %g s" % targets["warning_adds_under_s"],
            met["warning"],
            raw="healthy %.2f s" % gate["healthy_s"],
        ),
        row(
            part,
            "gate: steady critical failure reported after",
            "%.2f s" % gate["critical_verdict_s"],
            "< %g s" % targets["critical_reported_within_s"],
            met["critical"],
            raw="%+.2f s over healthy" % over["critical"],
        ),
        row(
            part,
            "gate: transient 503 for 3 s, over healthy",
            "%+.2f s" % over["transient"],
            "passes",
            met["transient"],
            raw="the check passed after %d attempts" % gate["added_check"]["transient"]["attempts"],
        ),
    ]


def converge_rows(part, data):
    first, noop = data["first"], data["noop"]
    return [
        row(
            part,
            "site.yml no-op re-run / first run",
            "%.2f" % data["ratio"],
            "<= %g" % data["target_ratio"],
            data["ratio"] <= data["target_ratio"],
            raw="first %.1f s (%d tasks, %d changed), no-op %.1f s (%d tasks)"
            % (data["first_s"], first["tasks"], first["changed"], data["noop_s"], noop["tasks"]),
        ),
        floor_row(part, data),
        row(
            part,
            "changed tasks in the no-op run",
            "%d" % noop["changed"],
            "0",
            noop["changed"] == 0,
            raw=", ".join(data.get("noop_changed_tasks", [])) or "none",
        ),
    ]


def floor_row(part, data):
    """What the no-op's module calls cost at ansible-core's per-call floor, against the first run."""
    figure = "no-op module calls at ansible-core's floor / first run"
    if "floor_ratio" not in data:
        return row(part, figure, "-", "-", None, raw="not measured")
    calls, call_s, raw_s = data["noop_module_calls"], data["module_call_s"], data["raw_round_trip_s"]
    return row(
        part,
        figure,
        "%.2f" % data["floor_ratio"],
        "-",
        None,
        raw="%d calls x %.3f s per call (ping; raw SSH round trip %.3f s) = %.1f s"
        % (calls, call_s, raw_s, data["noop_calls_at_floor_s"]),
    )


# deploy.yml's plays, by the phase of the deploy they are.
PHASE_NAMES = {
    "Validate the settings": "settings",
    "Build the release once and look for anything new": "build and compare",
    "Check the live site when there is nothing new": "nothing new",
    "Check the hosts before the deploy": "checks and lock",
    "Prepare the release on every app host": "prepare",
    "Back up the database now": "backup",
    "Archive the media now": "media archive",
    "Migrate the database once": "migrate",
    "Switch batch by batch behind the gate": "start, gate and switch",
    "Roll back the hosts switched before the failure": "rollback",
    "Finish the deploy": "finish",
}
CODE_CHANGE_AIM_S = 30
SWITCH_FIGURE = "switch time (candidate started to its first answer through nginx, gate included)"
# The broken releases that fail at the gate (a slow start waits out the gate's window by design,
# a page that fails only through nginx is caught by the switch command after the gate).
GATE_FAILURES = ("deploy-v3-import-error", "deploy-v3-health-500", "site-v3-health-500")


def phases_row(part, figure, case):
    """A code-only change end to end: the playbook's time against the aim, the time per phase."""
    phases = case.get("phases") or {}
    total = case.get("playbook_s") or (sum(phases.values()) if phases else None)
    return row(
        part,
        figure,
        "%.0f s" % total if total else "-",
        "aim <= %d s" % CODE_CHANGE_AIM_S,
        bool(total) and total <= CODE_CHANGE_AIM_S,
        raw=", ".join("%s %.0f s" % (PHASE_NAMES.get(play, play), s) for play, s in phases.items()) or "not measured",
    )


def _host_figure(cases, case, name):
    hosts = cases.get(case, {}).get("hosts", {})
    return ", ".join("%s %.1f s" % (host, figures[name]) for host, figures in hosts.items() if name in figures)


def rolling_rows(part, data):
    cases = data["cases"]
    broken = {name: case for name, case in cases.items() if name.startswith("deploy-v3")}
    detected = [
        figures["switch_to_failure_detected_s"]
        for case in broken.values()
        for figures in case["hosts"].values()
        if "switch_to_failure_detected_s" in figures
    ]
    switch = [
        figures["switch_time_s"]
        for case in cases.values()
        for figures in case["hosts"].values()
        if "switch_time_s" in figures
    ]
    gates = {name: cases[name]["gate_s"] for name in GATE_FAILURES if cases.get(name, {}).get("gate_s")}
    gaps = {name: c["max_gap_s"] for name, c in cases.items() if c.get("max_gap_s") is not None}
    rows = [
        row(
            part,
            "failed requests during %d deploys under load" % len(cases),
            "%d / %d" % (data["failed_requests"], data["requests"]),
            "0 failed",
            bool(cases) and data["failed_requests"] == 0,
            raw="; ".join("%s %d/%d" % (name, c["failed_requests"], c["requests"]) for name, c in cases.items()),
        ),
        row(
            part,
            SWITCH_FIGURE + ", per app host",
            "%.1f s" % max(switch) if switch else "-",
            "<= 5 s",
            bool(switch) and max(switch) <= 5,
            raw="deploy v2: %s; rollback v1: %s; deploy v2's whole step (to live, old instance stopped): %s"
            % (
                _host_figure(cases, "deploy-v2", "switch_time_s"),
                _host_figure(cases, "rollback-v1", "switch_time_s"),
                _host_figure(cases, "deploy-v2", "switch_s"),
            ),
        ),
    ]
    if "deploy-v2" in cases:
        rows.append(phases_row(part, "code-only change, 2 app hosts + lb (deploy.yml)", cases["deploy-v2"]))
    if gates:
        slowest = max(max(g) for g in gates.values())
        rows.append(
            row(
                part,
                "bad release: instance up to its failure reported (the gate)",
                "%.1f s" % slowest,
                "<= 5 s",
                slowest <= 5,
                raw="; ".join("%s %s s" % (name, ", ".join("%.1f" % s for s in g)) for name, g in gates.items()),
            )
        )
    if gaps:
        rows.append(
            row(
                part,
                "longest gap between two answers",
                "%.2f s" % max(gaps.values()),
                "<= 1 s",
                max(gaps.values()) <= 1,
                raw="; ".join("%s %.2f s" % item for item in gaps.items()),
            )
        )
    if detected:
        rows.append(
            row(
                part,
                "bad release: step start to the failure recorded",
                "%.1f s" % max(detected),
                "report",
                None,
                raw="; ".join(
                    "%s %s" % (name, _host_figure(cases, name, "switch_to_failure_detected_s"))
                    for name in broken
                    if _host_figure(cases, name, "switch_to_failure_detected_s")
                ),
            )
        )
    return rows


def single_host_rows(part, data):
    cases = data["cases"]
    gaps = [c["max_gap_s"] for c in cases.values()]
    ratios = {name: c["window_p99_ratio"] for name, c in cases.items() if c.get("window_p99_ratio") is not None}
    peaks = {name: c["memory"] for name, c in cases.items() if "window_peak_mib" in c.get("memory", {})}
    rows = [
        row(
            part,
            "non-2xx answers / answers by the broken release, %d deploys on one host" % len(cases),
            "%d / %d of %d" % (data["failed_requests"], data["answered_by_broken_release"], data["requests"]),
            "0 / 0",
            bool(cases) and data["failed_requests"] == 0 and data["answered_by_broken_release"] == 0,
            raw="; ".join("%s %d/%d" % (name, c["failed_requests"], c["requests"]) for name, c in cases.items()),
        ),
        row(
            part,
            "longest gap between two answers (one host)",
            "%.2f s" % max(gaps) if gaps else "-",
            "<= 1 s",
            bool(gaps) and max(gaps) <= 1,
            raw="; ".join("%s %.2f s" % (name, c["max_gap_s"]) for name, c in cases.items()),
        ),
    ]
    if ratios:
        rows.append(
            row(
                part,
                "p99 latency in the switch window / steady p99",
                "%.2fx" % max(ratios.values()),
                "<= 2x",
                max(ratios.values()) <= 2,
                raw="; ".join(
                    "%s %s/%s ms" % (name, cases[name]["window_p99_ms"], cases[name]["steady_p99_ms"])
                    for name in ratios
                ),
            )
        )
    if "deploy-v2" in cases:
        v2 = cases["deploy-v2"]
        rows.append(phases_row(part, "code-only change, one host (deploy.yml)", v2))
        rows.append(
            row(
                part,
                SWITCH_FIGURE + ", one host",
                "%.1f s" % v2["switch_time_s"] if v2.get("switch_time_s") else "-",
                "<= 5 s",
                bool(v2.get("switch_time_s")) and v2["switch_time_s"] <= 5,
                raw="gate %s s; the whole step %s s (switch command %s s); rollback.yml %s s"
                % (
                    ", ".join("%.1f" % g for g in v2.get("gate_s", [])) or "-",
                    v2.get("switch_window_s"),
                    ", ".join("%.1f" % c for c in v2.get("switch_command_s", [])) or "-",
                    cases.get("rollback", {}).get("switch_time_s"),
                ),
            )
        )
    broken = cases.get("site-v3-health-500", {})
    if broken.get("gate_s"):
        rows.append(
            row(
                part,
                "bad release: instance up to its failure reported (the gate), one host",
                "%.1f s" % max(broken["gate_s"]),
                "<= 5 s",
                max(broken["gate_s"]) <= 5,
                raw="site.yml, health endpoint 500: step start to the failure recorded %s s"
                % broken.get("switch_window_s"),
            )
        )
    if "nothing_new_share" in data:
        rows.append(
            row(
                part,
                "deploy.yml with nothing new / a real deploy",
                "%.0f%%" % (100 * data["nothing_new_share"]),
                "<= 20%",
                data["nothing_new_share"] <= 0.2,
                raw="deploy v2 %s s, nothing new %s s"
                % (cases["deploy-v2"]["playbook_s"], cases["deploy-nothing-new"]["playbook_s"]),
            )
        )
    if peaks:
        rows.append(
            row(
                part,
                "host memory (PSS): peak in the switch window - idle",
                "+%.0f MiB" % max(m["window_extra_mib"] for m in peaks.values()),
                "report",
                None,
                raw="; ".join(
                    "%s idle %s, peak %s MiB" % (name, m["idle_mib"], m["window_peak_mib"]) for name, m in peaks.items()
                ),
            )
        )
    return rows


def serving_rows(part, data):
    page, static = data["page"], data["static"]
    return [
        row(
            part,
            "/ (database page): nginx / gunicorn alone",
            "%.2f" % page["ratio"],
            ">= %g" % page["target_ratio"],
            page["ratio"] >= page["target_ratio"],
            raw="nginx %.0f req/s, gunicorn %.0f req/s (%d workers)"
            % (page["nginx_page_rps"], page["gunicorn_page_rps"], data["gunicorn_workers"]),
        ),
        row(
            part,
            "static file: nginx / the app",
            "%.1fx" % static["ratio"],
            ">= %gx" % static["target_ratio"],
            static["ratio"] >= static["target_ratio"],
            raw="nginx %.0f req/s, django static serve %.0f req/s"
            % (static["nginx_static_rps"], static["app_static_rps"]),
        ),
    ]


def backup_rows(part, data):
    return [
        row(
            part,
            "dump / restore test / restore, %d rows" % data["rows"],
            "-",
            "-",
            None,
            raw="dump %.2f s (%.1f MB), restore test %.2f s, restore %.2f s"
            % (data["dump_s"], data["dump_bytes"] / 1e6, data["restore_test_s"], data["restore_s"]),
        )
    ]


def memory_rows(part, data):
    idle, busy = data["idle"]["stack"], data["under_load"]["stack"]

    def parts(summary):
        return ", ".join("%s %.0f" % (name, p["rss_mib"]) for name, p in summary["parts"].items())

    return [
        row(
            part,
            "stack RSS under load / idle",
            "%.2f" % (busy["rss_mib"] / idle["rss_mib"]) if idle["rss_mib"] else "-",
            "-",
            None,
            raw="idle %.0f MiB RSS, %.0f MiB PSS (%s); under load %.0f MiB RSS, %.0f MiB PSS (%s)"
            % (
                idle["rss_mib"],
                idle["pss_mib"],
                parts(data["idle"]),
                busy["rss_mib"],
                busy["pss_mib"],
                parts(data["under_load"]),
            ),
        )
    ]


ROWS = {
    "health.json": verify_rows,
    "converge.json": converge_rows,
    "rolling.json": rolling_rows,
    "serving.json": serving_rows,
    "backup.json": backup_rows,
    "memory.json": memory_rows,
    "single-host.json": single_host_rows,
}


def build(results, stale=()):
    """results: file name -> parsed result (absent when the part did not run). stale: the result
    files this run did not write (its part failed before writing); shown, not counted as passed."""
    rows = []
    for part, name in PARTS:
        if name not in results:
            rows.append(row(part, "no result (bench/results/%s)" % name, "-", "-", False, raw="-"))
            continue
        try:
            part_rows = ROWS[name](part, results[name])
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            # An old or partial result file: say so in its row rather than lose the table.
            part_rows = [
                row(part, "unreadable %s (%s: %s)" % (name, type(exc).__name__, exc), "-", "-", False, raw="-")
            ]
        if name in stale:
            for earlier in part_rows:
                earlier["result"] = "stale"
                earlier["raw"] += " [an earlier run's result: this run did not write it]"
        rows.extend(part_rows)
    return rows


def text_table(rows):
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS[:-1]}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS[:-1]) + "  raw"]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in COLUMNS[:-1]) + "  " + r["raw"] for r in rows]
    return "\n".join(lines)


def markdown_table(rows):
    def cell(value):
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def load_results(directory):
    results = {}
    for _part, name in PARTS:
        path = directory / name
        if path.exists():
            results[name] = json.loads(path.read_text(encoding="utf-8"))
    return results


def stale_files(directory, since):
    """Result files last written before `since` (seconds since the epoch)."""
    return {name for _part, name in PARTS if (directory / name).exists() and (directory / name).stat().st_mtime < since}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--since",
        type=float,
        help="start of this run (seconds since the epoch): results written before it are stale",
    )
    args = parser.parse_args(argv)
    results = load_results(RESULTS)
    stale = stale_files(RESULTS, args.since) if args.since else set()
    rows = build(results, stale)
    passed = all(r["result"] == "pass" or r["result"] == "-" for r in rows)
    print(text_table(rows))
    summary = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "make bench",
        "all_targets_met": passed,
        "stale": sorted(stale),
        "rows": rows,
        "parts": results,
    }
    (REPO / "bench" / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "README-table.md").write_text(markdown_table(rows), encoding="utf-8")
    print("wrote bench/results.json and bench/results/README-table.md")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
