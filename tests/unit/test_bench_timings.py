"""bench/benchlib.py: a deploy's timings from its profile_tasks log, events and load records."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))
import benchlib  # noqa: E402

STAMP = "Thursday 03 December 2026  16:01:0{s} +0000 (0:00:00.008)       {at} *****"
LOG = "\n".join(
    [
        "PLAY [Prepare the release on every app host] *****",
        "",
        "TASK [Gathering Facts] *****",
        STAMP.format(s=0, at="0:00:00.500"),
        "ok: [app1]",
        "",
        "TASK [vitals.django.release : Build the artifacts] *****",
        STAMP.format(s=1, at="0:00:01.500"),
        "changed: [app1]",
        "",
        "PLAY [Switch batch by batch behind the gate] *****",
        "",
        "TASK [vitals.django.rollout : Gate the candidate instance] *****",
        STAMP.format(s=8, at="0:00:08.000"),
        "ok: [app1]",
        "",
        "TASK [vitals.django.rollout : %s] *****" % benchlib.SWITCH_TASK,
        STAMP.format(s=9, at="0:00:09.250"),
        "changed: [app1]",
        "",
        "TASK [vitals.django.rollout : Gate the candidate instance] *****",
        STAMP.format(s=9, at="1:00:12.000"),
        "ok: [app2]",
        "",
        "PLAY RECAP *****",
        "app1 : ok=4 changed=2",
        "",
        STAMP.format(s=9, at="1:00:14.000"),
        "=====",
        "vitals.django.release : Build the artifacts ------ 6.50s",
    ]
)


def test_profile_tasks_times_each_task_up_to_the_next_one():
    tasks = benchlib.profile_tasks(LOG)
    assert [(task, start, seconds) for _play, task, start, seconds in tasks] == [
        ("Gathering Facts", 0.5, 1.0),
        ("vitals.django.release : Build the artifacts", 1.5, 6.5),
        ("vitals.django.rollout : Gate the candidate instance", 8.0, 1.25),
        ("vitals.django.rollout : " + benchlib.SWITCH_TASK, 9.25, 3602.75),
        ("vitals.django.rollout : Gate the candidate instance", 3612.0, 2.0),
    ]
    assert benchlib.profile_tasks("no stamps here\n") == []


def test_phases_are_the_seconds_per_play_and_tasks_are_found_by_name(tmp_path):
    tasks = benchlib.profile_tasks(LOG)
    assert benchlib.play_phases(tasks) == {
        "Prepare the release on every app host": 7.5,
        "Switch batch by batch behind the gate": 3606.0,
    }
    assert benchlib.task_seconds(tasks, benchlib.GATE_TASK) == [1.25, 2.0]
    assert benchlib.task_seconds(tasks, "Gathering Facts") == [1.0]
    log = tmp_path / "deploy-ansible.log"
    log.write_text(LOG, encoding="utf-8")
    timings = benchlib.deploy_timings(log)
    assert timings["gate_s"] == [1.25, 2.0] and timings["switch_command_s"] == [3602.75]
    assert benchlib.deploy_timings(tmp_path / "missing.log") == {
        "phases": {},
        "gate_s": [],
        "switch_command_s": [],
        "candidate_start_delays_s": [],
    }


def test_candidate_start_delays_run_from_each_recorded_step_to_its_candidate():
    play = "Switch batch by batch behind the gate"
    tasks = [
        (play, "Record the step switch", 10.0, 0.5),
        # The leftover candidates are stopped first: that task names no release and is skipped.
        (play, "vitals.django.gunicorn : Start the candidate instance of release", 11.0, 0.02),
        (play, "vitals.django.gunicorn : Start the candidate instance of release 20261203T160858Z", 13.0, 1.3),
        (play, "Record the step switch", 30.0, 0.25),
        (play, "vitals.django.gunicorn : Start the candidate instance of release 20261203T160858Z", 31.25, 1.0),
        ("Finish the deploy", "Record the step done", 40.0, 0.1),
    ]
    assert benchlib.candidate_start_delays(tasks) == [2.5, 1.0]


LIVE, NEXT = "unix:/run/demo/gunicorn.sock", "unix:/run/demo/next.sock"


def request(t, instance, status=200, latency_ms=100.0):
    return {"t": t, "instance": instance, "status": status, "latency_ms": latency_ms}


def test_first_answer_is_the_first_good_answer_from_the_instance_in_the_window():
    requests = [request(1.0, NEXT), request(5.0, NEXT, status=502), request(6.0, LIVE), request(7.0, NEXT)]
    assert benchlib.first_answer(requests, "next.sock", 2.0, 10.0) == 7.1
    assert benchlib.first_answer(requests, "next.sock", 8.0, 10.0) is None


def test_rolling_switch_time_is_per_host_step_to_its_first_candidate_answer():
    events = [
        {"t": 10.0, "host": "app1", "event": "switch"},
        {"t": 20.0, "host": "app1", "event": "healthy"},
        {"t": 21.0, "host": "app2", "event": "switch"},
        {"t": 30.0, "host": "app2", "event": "healthy"},
    ]
    requests = [request(9.0, NEXT), request(13.0, NEXT), request(22.0, LIVE), request(24.4, NEXT)]
    assert benchlib.host_steps(events, requests) == {
        "app1": {"switch_to_candidate_traffic_s": 3.1, "switch_s": 10.0},
        "app2": {"switch_to_candidate_traffic_s": 3.5, "switch_s": 9.0},
    }
    # With the candidates' start delays (in the order the hosts switched): the switch time.
    assert benchlib.host_steps(events, requests, [1.0, 2.5]) == {
        "app1": {"switch_to_candidate_traffic_s": 3.1, "switch_time_s": 2.1, "switch_s": 10.0},
        "app2": {"switch_to_candidate_traffic_s": 3.5, "switch_time_s": 1.0, "switch_s": 9.0},
    }
    failed = [{"t": 1.0, "host": "app1", "event": "switch"}, {"t": 4.0, "host": "app1", "event": "failed"}]
    assert benchlib.host_steps(failed, [request(2.0, LIVE)]) == {"app1": {"switch_to_failure_detected_s": 3.0}}
