"""Item 2 of issue 12: a systemd check observes the unit, one active sample is not enough."""

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.checks import CHECKS
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config

ACTIVE = {"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "NRestarts": "0", "MainPID": "42"}


def observe(deps, samples, **options):
    deps.samples["app.service"] = samples
    check = validate_config([{"name": "u", "systemd": {"unit": "app.service", **options}}]).checks[0]
    return CHECKS["systemd"](check.options, check.timeout, deps)


def test_a_stable_unit_is_sampled_for_the_whole_observation(deps):
    out = observe(deps, [ACTIVE])
    assert out.status == "ok"
    assert out.message == "app.service is active, stable for 2 s"
    assert deps.clock == pytest.approx(2.0)
    # The first sample and one every 0.5 s.
    assert deps.calls.count(("systemd", "app.service")) == 5


@pytest.mark.parametrize(
    ("later", "reason"),
    [
        (dict(ACTIVE, NRestarts="1", MainPID="43"), "restarted while observed (NRestarts 0 -> 1)"),
        (dict(ACTIVE, MainPID="77"), "main process changed while observed (PID 42 -> 77)"),
        (dict(ACTIVE, ActiveState="activating", SubState="auto-restart", NRestarts="22"), "auto-restart"),
        (dict(ACTIVE, ActiveState="failed", Result="exit-code"), "is failed (exit-code)"),
    ],
)
def test_a_unit_that_looked_active_once_but_is_not_stable_is_critical(deps, later, reason):
    out = observe(deps, [ACTIVE, ACTIVE, later])
    assert out.status == "critical"
    assert reason in out.message


def test_a_crash_looping_unit_caught_in_auto_restart_is_critical_at_once(deps):
    out = observe(deps, [dict(ACTIVE, ActiveState="activating", SubState="auto-restart", NRestarts="22")])
    assert out.status == "critical"
    assert out.message == "app.service is in auto-restart (crash loop, NRestarts 22)"
    assert not out.transient


def test_a_socket_that_hit_its_trigger_limit_is_critical(deps):
    deps.samples["app.socket"] = [{"LoadState": "loaded", "ActiveState": "failed", "Result": "trigger-limit-hit"}]
    check = validate_config([{"name": "s", "systemd": {"unit": "app.socket"}}]).checks[0]
    out = CHECKS["systemd"](check.options, check.timeout, deps)
    assert (out.status, out.message) == ("critical", "app.socket hit its trigger limit and stopped listening")


def test_observe_is_a_setting_and_zero_takes_one_sample(deps):
    out = observe(deps, [ACTIVE, dict(ACTIVE, MainPID="77")], observe=0)
    assert (out.status, out.message) == ("ok", "app.service is active")
    out = observe(deps, [ACTIVE, ACTIVE, ACTIVE, dict(ACTIVE, MainPID="77")], observe=1)
    assert out.status == "ok"


def test_observe_refuses_a_negative_time():
    with pytest.raises(ValueError, match="option 'observe' must be greater than 0"):
        validate_config([{"name": "u", "systemd": {"unit": "a.service", "observe": -1}}])
