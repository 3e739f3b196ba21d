"""bench/report.py: one row set per part, missing parts, and the two table formats."""

import importlib.util
import os
import pathlib

_PATH = pathlib.Path(__file__).resolve().parents[2] / "bench" / "report.py"
_SPEC = importlib.util.spec_from_file_location("report", _PATH)
report = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(report)

RESULTS = {
    "health.json": {"ratio": 6.36, "target_ratio": 5.0, "module_task_s": 3.99, "builtin_tasks_s": 25.4},
    "converge.json": {
        "ratio": 0.31,
        "target_ratio": 0.25,
        "first_s": 200.0,
        "noop_s": 62.0,
        "first": {"tasks": 184, "changed": 75},
        "noop": {"tasks": 160, "changed": 1},
        "noop_changed_tasks": ["Restart x"],
        "noop_module_calls": 110,
        "module_call_s": 0.19,
        "raw_round_trip_s": 0.018,
        "noop_calls_at_floor_s": 20.9,
        "floor_ratio": 0.104,
    },
    "rolling.json": {
        "failed_requests": 0,
        "requests": 300,
        "cases": {
            "deploy-v2": {
                "requests": 100,
                "failed_requests": 0,
                "max_gap_s": 0.2,
                "hosts": {
                    "app1": {"switch_s": 9.5, "switch_time_s": 4.5},
                    "app2": {"switch_s": 8.1, "switch_time_s": 3.3},
                },
                "phases": {"Prepare the release on every app host": 20.4, "Finish the deploy": 11.0},
            },
            "deploy-v3-health-500": {
                "requests": 100,
                "failed_requests": 0,
                "max_gap_s": 0.4,
                "hosts": {"app1": {"switch_to_failure_detected_s": 24.6}},
                "gate_s": [3.2],
            },
            "rollback-v1": {
                "requests": 100,
                "failed_requests": 0,
                "hosts": {"app1": {"switch_s": 11.0, "switch_time_s": 6.2}},
            },
        },
    },
    "serving.json": {
        "gunicorn_workers": 5,
        "page": {"ratio": 0.9, "target_ratio": 0.85, "nginx_page_rps": 90.0, "gunicorn_page_rps": 100.0},
        "static": {"ratio": 12.0, "target_ratio": 10.0, "nginx_static_rps": 1200.0, "app_static_rps": 100.0},
    },
    "backup.json": {"rows": 100000, "dump_s": 1.8, "dump_bytes": 3225405, "restore_test_s": 2.4, "restore_s": 4.3},
    "memory.json": {
        "idle": {"stack": {"rss_mib": 200.0, "pss_mib": 150.0}, "parts": {"nginx": {"rss_mib": 10.0}}},
        "under_load": {"stack": {"rss_mib": 250.0, "pss_mib": 180.0}, "parts": {"nginx": {"rss_mib": 12.0}}},
    },
}


def by_figure(rows):
    return {row["figure"]: row for row in rows}


def test_every_part_has_rows_and_targets_are_judged():
    rows = report.build(RESULTS)
    assert {row["part"] for row in rows} == {part for part, _file in report.PARTS}
    figures = by_figure(rows)
    assert figures["20 checks: builtin tasks / one health task"]["result"] == "pass"
    assert figures["site.yml no-op re-run / first run"]["result"] == "FAIL"
    assert figures["changed tasks in the no-op run"]["raw"] == "Restart x"
    floor = figures["no-op module calls at ansible-core's floor / first run"]
    assert (floor["ratio"], floor["result"]) == ("0.10", "-")
    assert floor["raw"] == "110 calls x 0.190 s per call (ping; raw SSH round trip 0.018 s) = 20.9 s"
    assert figures["/ (database page): nginx / gunicorn alone"]["ratio"] == "0.90"
    assert figures["static file: nginx / the app"]["ratio"] == "12.0x"
    assert figures["failed requests during 3 deploys under load"]["ratio"] == "0 / 300"
    assert figures["stack RSS under load / idle"]["ratio"] == "1.25"
    assert figures["stack RSS under load / idle"]["result"] == "-"
    switch = figures[report.SWITCH_FIGURE + ", per app host"]
    assert switch["raw"] == (
        "deploy v2: app1 4.5 s, app2 3.3 s; rollback v1: app1 6.2 s;"
        " deploy v2's whole step (to live, old instance stopped): app1 9.5 s, app2 8.1 s"
    )
    assert (switch["ratio"], switch["result"]) == ("6.2 s", "FAIL")
    gap = figures["longest gap between two answers"]
    assert (gap["ratio"], gap["result"]) == ("0.40 s", "pass")
    code = figures["code-only change, 2 app hosts + lb (deploy.yml)"]
    assert (code["ratio"], code["target"], code["result"]) == ("31 s", "aim <= 30 s", "FAIL")
    assert code["raw"] == "prepare 20 s, finish 11 s"
    gate = figures["bad release: instance up to its failure reported (the gate)"]
    assert (gate["ratio"], gate["result"], gate["raw"]) == ("3.2 s", "pass", "deploy-v3-health-500 3.2 s")
    detected = figures["bad release: step start to the failure recorded"]
    assert detected["raw"] == "deploy-v3-health-500 app1 24.6 s"
    assert detected["result"] == "-"


def test_missing_and_unreadable_parts_fail():
    results = {"health.json": {"ratio": 1.0}}
    rows = report.build(results)
    assert rows[0]["figure"].startswith("unreadable health.json (KeyError")
    assert all(row["result"] == "FAIL" for row in rows)
    assert rows[1]["figure"] == "no result (bench/results/converge.json)"


def test_stale_parts_are_shown_but_not_passed():
    rows = report.build(RESULTS, stale={"rolling.json"})
    rolling = [row for row in rows if row["part"] == "3 rolling"]
    assert {row["result"] for row in rolling} == {"stale"}
    assert all(row["raw"].endswith("this run did not write it]") for row in rolling)
    assert by_figure(rows)["20 checks: builtin tasks / one health task"]["result"] == "pass"


def test_stale_files_are_the_ones_written_before_the_run(tmp_path):
    (tmp_path / "health.json").write_text("{}", encoding="utf-8")
    (tmp_path / "rolling.json").write_text("{}", encoding="utf-8")
    os.utime(tmp_path / "rolling.json", (1000, 1000))
    assert report.stale_files(tmp_path, 2000) == {"rolling.json"}


def test_main_writes_both_tables(tmp_path, monkeypatch, capsys):
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "backup.json").write_text(
        '{"rows": 1, "dump_s": 1, "dump_bytes": 1, "restore_test_s": 1, "restore_s": 1}', encoding="utf-8"
    )
    monkeypatch.setattr(report, "REPO", tmp_path)
    monkeypatch.setattr(report, "RESULTS", results)
    assert report.main([]) == 1  # the other parts are missing
    assert "5 backup" in capsys.readouterr().out
    assert (results / "README-table.md").read_text(encoding="utf-8").startswith("| part |")
    assert (tmp_path / "bench" / "results.json").exists()


def test_tables():
    rows = [report.row("1 x", "a | b", "2.0x", ">= 1x", True, raw="1 s")]
    assert report.markdown_table(rows).splitlines() == [
        "| part | figure | ratio | target | result | raw |",
        "|---|---|---|---|---|---|",
        "| 1 x | a \\| b | 2.0x | >= 1x | pass | 1 s |",
    ]
    text = report.text_table(rows).splitlines()
    assert text[0].split() == ["part", "figure", "ratio", "target", "result", "raw"]
    assert text[1].endswith("pass    1 s")


def test_load_results_reads_what_exists(tmp_path):
    (tmp_path / "backup.json").write_text('{"rows": 1}', encoding="utf-8")
    assert report.load_results(tmp_path) == {"backup.json": {"rows": 1}}


def test_single_host_rows_judge_failures_gaps_latency_and_the_no_op_share():
    case = {"failed_requests": 0, "requests": 100, "max_gap_s": 0.4, "memory": {}}
    data = {
        "cases": {
            "deploy-v2": dict(
                case,
                window_p99_ratio=2.5,
                window_p99_ms=50.0,
                steady_p99_ms=20.0,
                playbook_s=40.0,
                memory={"idle_mib": 300.0, "window_peak_mib": 420.0, "window_extra_mib": 120.0},
                phases={"Migrate the database once": 5.0},
                switch_time_s=2.5,
                gate_s=[1.5],
                switch_command_s=[4.0],
                switch_window_s=9.0,
            ),
            "site-v3-health-500": dict(case, gate_s=[6.5], switch_window_s=12.0),
            "deploy-nothing-new": dict(case, playbook_s=6.0),
        },
        "failed_requests": 0,
        "requests": 200,
        "answered_by_broken_release": 0,
        "nothing_new_share": 0.15,
    }
    rows = {r["target"]: r for r in report.single_host_rows("7", data)}
    assert rows["0 / 0"]["result"] == "pass"
    assert rows["<= 1 s"]["result"] == "pass"
    assert rows["<= 2x"]["result"] == "FAIL"
    assert rows["<= 20%"]["ratio"] == "15%"
    assert rows["report"]["ratio"] == "+120 MiB"
    figures = by_figure(report.single_host_rows("7", data))
    code = figures["code-only change, one host (deploy.yml)"]
    assert (code["ratio"], code["result"], code["raw"]) == ("40 s", "FAIL", "migrate 5 s")
    switch = figures[report.SWITCH_FIGURE + ", one host"]
    assert (switch["ratio"], switch["result"]) == ("2.5 s", "pass")
    assert switch["raw"] == "gate 1.5 s; the whole step 9.0 s (switch command 4.0 s); rollback.yml None s"
    gate = figures["bad release: instance up to its failure reported (the gate), one host"]
    assert (gate["ratio"], gate["result"]) == ("6.5 s", "FAIL")
