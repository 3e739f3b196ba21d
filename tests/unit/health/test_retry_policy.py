"""Item 6 of issue 12: only what can recover is retried; every result says why it stopped."""

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.checks import MissingLibrary, ProbeError
from ansible_collections.vitals.django.plugins.module_utils.health.deps import HttpResponse
from ansible_collections.vitals.django.plugins.module_utils.health.runner import CONFIRM_DELAY, run_checks
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config

ACTIVE = {"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "NRestarts": "0", "MainPID": "42"}


class Answers:
    """An http() giving one answer per call (the last repeats); the fake clock advances 0.1 s per call."""

    def __init__(self, deps, *answers):
        self.deps, self.answers, self.calls = deps, list(answers), 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.deps.clock += 0.1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return HttpResponse(answer, {}, "", 0.01)


def one(deps, item, within=30, delay=2):
    return run_checks(validate_config([{"name": "web", **item}], within=within, delay=delay), deps)["checks"][0]


def web(**extra):
    return {"http": {"url": "http://a/"}, **extra}


def test_a_definitive_failure_is_confirmed_once_then_reported_whatever_the_window(deps):
    deps.http = Answers(deps, 500)
    result = one(deps, web(), within=300)
    assert (result["status"], result["stopped"], result["attempts"]) == ("critical", "definitive", 2)
    assert result["duration_ms"] == pytest.approx((0.2 + CONFIRM_DELAY) * 1000)


def test_a_blip_that_passes_on_confirmation_is_ok(deps):
    deps.http = Answers(deps, 500, 200)
    result = one(deps, web())
    assert (result["status"], result["stopped"], result["attempts"]) == ("ok", "passed", 2)


@pytest.mark.parametrize("answer", [502, 503, 504, ProbeError("cannot reach: [Errno 111] Connection refused", True)])
def test_transient_outcomes_are_retried_until_they_pass(deps, answer):
    deps.http = Answers(deps, answer, answer, answer, 200)
    result = one(deps, web())
    assert (result["status"], result["stopped"], result["attempts"]) == ("ok", "passed", 4)


def test_a_transient_outcome_retried_to_the_end_of_the_window(deps):
    deps.http = Answers(deps, 503)
    result = one(deps, web(), within=10)
    assert (result["status"], result["stopped"]) == ("critical", "window-expired")
    assert result["attempts"] == 5


def test_a_503_that_is_the_expected_status_is_not_transient(deps):
    deps.http = Answers(deps, 200)
    result = one(deps, {"http": {"url": "http://a/", "status": [503]}})
    assert (result["stopped"], result["attempts"]) == ("definitive", 2)


def test_a_warning_is_never_retried(deps):
    deps.http = Answers(deps, 503)
    result = one(deps, web(severity="warning"), within=300)
    assert (result["status"], result["stopped"], result["attempts"]) == ("warning", "warning", 1)
    assert result["duration_ms"] < 1000


@pytest.mark.parametrize(
    ("unit_state", "shown"),
    [
        ({"ActiveState": "failed", "SubState": "failed"}, "app.service is failed (failed)"),
        ({"ActiveState": "inactive", "SubState": "dead"}, "app.service is inactive (dead)"),
        ({"ActiveState": "activating", "SubState": "auto-restart"}, "app.service is activating (auto-restart)"),
    ],
)
def test_a_transient_outcome_is_definitive_when_the_unit_behind_it_is_down(deps, unit_state, shown):
    deps.http = Answers(deps, 502)
    deps.samples["app.service"] = [unit_state]
    result = one(deps, web(unit="app.service"), within=300)
    assert (result["status"], result["stopped"], result["attempts"]) == ("critical", "unit-down", 1)
    assert result["message"].endswith(shown)


def test_a_transient_outcome_with_its_unit_up_is_retried(deps):
    deps.http = Answers(deps, 502, 502, 200)
    deps.samples["app.service"] = [ACTIVE]
    result = one(deps, web(unit=["nginx.service", "app.service"]))
    assert (result["status"], result["stopped"], result["attempts"]) == ("ok", "passed", 3)


def test_a_unit_starting_for_the_first_time_is_waited_for(deps):
    deps.samples["app.service"] = [dict(ACTIVE, ActiveState="activating", SubState="start"), ACTIVE]
    result = one(deps, {"systemd": {"unit": "app.service", "observe": 0}})
    assert (result["status"], result["stopped"], result["attempts"]) == ("ok", "passed", 2)


def test_a_unit_starting_again_is_a_restart_not_a_start(deps):
    starting = dict(ACTIVE, ActiveState="activating", SubState="start", NRestarts="3")
    deps.samples["app.service"] = [starting]
    result = one(deps, {"systemd": {"unit": "app.service", "observe": 0}}, within=300)
    assert (result["status"], result["stopped"], result["attempts"]) == ("critical", "definitive", 2)
    assert "restarted 3 times" in result["message"]


def test_a_missing_library_is_unknown_at_once(deps):
    deps.http = Answers(deps, MissingLibrary("no requests"))
    result = one(deps, web(), within=300)
    assert (result["status"], result["stopped"], result["attempts"]) == ("unknown", "unknown", 1)


def test_unit_must_name_units(deps):
    with pytest.raises(ValueError, match="option 'unit' must be a string"):
        validate_config([{"name": "web", "unit": {"a": 1}, **web()}])
