"""bench/single_host.py: the switch window, memory and per-case figures from a run's records."""

import importlib.util
import json
import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(_ROOT / "bench"))
_SPEC = importlib.util.spec_from_file_location("single_host", _ROOT / "bench" / "single_host.py")
single_host = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(single_host)


def test_switch_window_runs_from_the_step_to_its_outcome():
    events = [{"t": 5.0, "event": "switch"}, {"t": 9.5, "event": "healthy"}, {"t": 10.0, "event": "done"}]
    assert single_host.switch_window(events) == (5.0, 9.5)
    assert single_host.switch_window([{"t": 1.0, "event": "done"}]) is None
    assert single_host.switch_window([{"t": 1.0, "event": "rollback"}, {"t": 3.0, "event": "restored"}]) == (1.0, 3.0)


def test_memory_figures_compare_the_window_peak_with_idle():
    samples = "1.0 102400\n2.0 153600\n3.0 204800\n4.0 112640\n"
    figures = single_host.memory_figures(samples, (1.5, 3.5))
    assert figures == {"idle_mib": 100.0, "window_peak_mib": 200.0, "window_extra_mib": 100.0}
    assert single_host.memory_figures("", (0, 1)) == {}


LIVE, NEXT = "unix:/run/demo/gunicorn.sock", "unix:/run/demo/next.sock"


def write_case(directory, case, instances, seconds, events):
    requests = [
        {"t": float(i), "latency_ms": 10.0, "status": 200, "instance": v, "error": None}
        for i, v in enumerate(instances)
    ]
    (directory / f"{case}-requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in requests))
    summary = {"total": len(requests), "failed": 0, "by_release": {}, "by_instance": {}, "max_gap_s": 1.0}
    for v in instances:
        summary["by_instance"][v] = summary["by_instance"].get(v, 0) + 1
    (directory / f"{case}-summary.json").write_text(json.dumps(summary))
    (directory / f"{case}-run.json").write_text(json.dumps({"rc": 0, "seconds": seconds}))
    (directory / f"{case}-events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def test_report_counts_answers_by_the_broken_instance_and_the_no_op_share(tmp_path):
    write_case(
        tmp_path,
        "deploy-v2",
        [LIVE, NEXT, NEXT, LIVE],
        40.0,
        [{"t": 1.0, "event": "switch"}, {"t": 2.0, "event": "healthy"}],
    )
    write_case(
        tmp_path,
        "site-v3-health-500",
        [LIVE, NEXT, LIVE],
        50.0,
        [{"t": 0.5, "event": "switch"}, {"t": 1.5, "event": "failed"}],
    )
    write_case(tmp_path, "deploy-nothing-new", [LIVE, LIVE], 6.0, [])
    result = single_host.report(tmp_path)
    assert list(result["cases"]) == ["deploy-v2", "site-v3-health-500", "deploy-nothing-new"]
    # Only the broken release's candidate counts: the good one's candidate serves during its switch.
    assert result["answered_by_broken_release"] == 1
    assert result["nothing_new_share"] == 0.15
    assert result["cases"]["deploy-v2"]["switch_window_s"] == 1.0
    assert result["cases"]["deploy-v2"]["window_requests"] == 2
    assert result["cases"]["deploy-nothing-new"]["switch_window_s"] is None
