"""bench/converge.py: recap counts, task times, the met rule and the copied inventory."""

import importlib.util
import pathlib
import sys

_BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(_BENCH))
_SPEC = importlib.util.spec_from_file_location("converge", _BENCH / "converge.py")
converge = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(converge)


def task(name, seconds, **result):
    return {
        "task": {
            "name": name,
            "duration": {"start": "2026-11-29T13:00:00.000000Z", "end": "2026-11-29T13:00:%09.6fZ" % seconds},
        },
        "hosts": {"h1": result},
    }


def run_record(changed=0, ok=10, failures=0, tasks=None):
    return {
        "plays": [{"play": {"name": "Play"}, "tasks": tasks or []}],
        "stats": {"h1": {"ok": ok, "changed": changed, "failures": failures, "skipped": 2, "unreachable": 0}},
    }


def test_recap_counts_tasks_that_ran():
    record = run_record(changed=3, ok=10, failures=1)
    record["stats"]["h2"] = {"ok": 5, "changed": 1, "skipped": 1}
    totals = converge.recap(record)
    assert totals["tasks"] == 16
    assert totals["changed"] == 4
    assert totals["skipped"] == 3


def test_task_times_and_slowest():
    record = run_record(
        tasks=[
            task("fast", 0.25, changed=False),
            task("slow", 7.5, changed=True),
            task("skipped", 0.01, skipped=True),
            {"task": {"name": "no duration"}, "hosts": {}},
        ]
    )
    rows = converge.task_times(record)
    assert [r["task"] for r in rows] == ["fast", "slow", "skipped"]
    assert rows[1]["seconds"] == 7.5
    assert rows[2]["skipped"] is True
    assert [r["task"] for r in converge.slowest(rows, 2)] == ["slow", "fast"]
    assert converge.changed_tasks(rows) == ["slow"]


def test_figures_met_needs_ratio_and_no_change():
    first = run_record(changed=70, ok=180)
    quiet = run_record(changed=0, tasks=[task("t", 1.0, changed=False)])
    assert converge.figures(100.0, first, 20.0, quiet)["met"] is True
    assert converge.figures(100.0, first, 30.0, quiet)["met"] is False
    noisy = run_record(changed=1, tasks=[task("t", 1.0, changed=True)])
    result = converge.figures(100.0, first, 20.0, noisy)
    assert result["met"] is False
    assert result["noop_changed_tasks"] == ["t"]
    assert result["ratio"] == 0.2


def test_bench_inventory_points_the_sandbox_copy_at_the_bench_host():
    sandbox = {
        "all": {
            "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": "/var/lib/vitals-testhosts/sandbox/id"},
            "children": {"db": {"hosts": {"sandbox": None}}, "app": {"hosts": {"sandbox": None}}},
            "hosts": {"sandbox": {"ansible_host": "10.88.0.10", "testhost_release": "trixie"}},
        }
    }
    instance = {"address": "10.88.7.10", "identity_file": "/var/lib/vitals-testhosts/bench_converge/id", "port": 22}
    inventory = converge.bench_inventory(
        sandbox, instance, "bookworm", {"postgresql_memory_mb": 1024, "ansible_user": "x"}
    )
    top = inventory["all"]
    assert top["hosts"]["sandbox"]["ansible_host"] == "10.88.7.10"
    assert top["hosts"]["sandbox"]["testhost_release"] == "bookworm"
    assert top["vars"]["ansible_ssh_private_key_file"].endswith("bench_converge/id")
    assert top["vars"]["postgresql_memory_mb"] == 1024
    assert top["vars"]["ansible_user"] == "root"
    assert top["children"] == sandbox["all"]["children"]
    # The sandbox's own inventory is left as it was.
    assert sandbox["all"]["hosts"]["sandbox"]["ansible_host"] == "10.88.0.10"


def test_module_calls_count_items_and_the_two_calls_of_copy_and_template():
    record = run_record(
        tasks=[
            task("facts", 0.8, action="gather_facts"),
            task("check", 0.01, action="ansible.builtin.assert"),
            task("render", 0.4, action="ansible.builtin.template"),
            task("skipped", 0.01, action="ansible.builtin.apt", skipped=True),
            task(
                "dirs",
                0.6,
                action="ansible.builtin.file",
                results=[{"changed": False}, {"skipped": True}, {"changed": False}],
            ),
            task("files", 0.9, action="ansible.builtin.copy", results=[{"changed": False}, {"changed": False}]),
        ]
    )
    # facts 1, template 2, file 2 items, copy 2 items x 2
    assert converge.module_calls(record) == 1 + 2 + 2 + 4


def test_floor_times_are_per_item():
    record = run_record(tasks=[task("Raw round trips", 0.4), task("Module calls", 4.0)])
    assert converge.floor_times(record, samples=20) == (0.02, 0.2)


def test_figures_put_the_no_op_calls_at_the_floor_beside_the_first_run():
    first = run_record(changed=70, ok=180)
    noop = run_record(tasks=[task("render", 0.4, action="ansible.builtin.template")])
    floor = run_record(tasks=[task("Raw round trips", 0.4), task("Module calls", 4.0)])
    result = converge.figures(10.0, first, 2.0, noop, floor)
    assert result["noop_module_calls"] == 2
    assert result["module_call_s"] == 0.2
    assert result["noop_calls_at_floor_s"] == 0.4
    assert result["floor_ratio"] == 0.04
