"""Item 5 of issue 12: disk and TLS have a warning tier; the disk share is computed as df does."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.checks import CHECKS
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config


def run(deps, ctype, options):
    check = validate_config([{"name": "c", ctype: options}]).checks[0]
    return CHECKS[ctype](check.options, check.timeout, deps)


# 1000 blocks, 100 reserved for root: 600 used, 300 available -> df says Use% 67, 33.33 % free.
DF_LIKE = SimpleNamespace(f_frsize=4096, f_blocks=1000, f_bfree=400, f_bavail=300, f_files=100, f_favail=50)


def test_disk_percentage_is_available_over_used_plus_available_like_df(deps):
    deps.statvfs_result = DF_LIKE
    out = run(deps, "disk", {"path": "/", "min_free": "10%"})
    assert out.details["free_percent"] == 33.33
    assert out.details["used_percent"] == 66.67
    assert out.details["free_bytes"] == 300 * 4096


@pytest.mark.parametrize(
    ("options", "status", "message"),
    [
        ({"warn_free": "30%", "min_free": "10%"}, "ok", "/: 33.33% free"),
        ({"warn_free": "40%", "min_free": "10%"}, "warning", "/: 1228800 bytes free (33.33%), warning below 40%"),
        ({"warn_free": "50%", "min_free": "40%"}, "critical", "/: 1228800 bytes free (33.33%), need 40%"),
        (
            {"warn_free": "2M", "min_free": "1M"},
            "warning",
            "/: 1228800 bytes free (33.33%), warning below 2097152 bytes",
        ),
    ],
)
def test_disk_warning_and_minimum_thresholds(deps, options, status, message):
    deps.statvfs_result = DF_LIKE
    out = run(deps, "disk", {"path": "/", **options})
    assert (out.status, out.message) == (status, message)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"warn_free": "10%"}, "'warn_free' needs 'min_free'"),
        ({"warn_free": "10%", "min_free": "20%"}, "'warn_free' must not be below 'min_free'"),
        ({"warn_free": "1G", "min_free": "20%"}, "must both be percentages or both sizes"),
        ({"warn_free": "lots", "min_free": "20%"}, "option 'warn_free' must be a percentage"),
    ],
)
def test_disk_thresholds_are_validated(options, error):
    with pytest.raises(ValueError, match=error):
        validate_config([{"name": "d", "disk": {"path": "/", **options}}])


@pytest.mark.parametrize(
    ("days", "status", "message"),
    [
        (45, "ok", "certificate valid for 45 more days"),
        (13, "warning", "certificate expires in 13.0 days, renew before 30"),
        (5, "critical", "certificate expires in 5.0 days, minimum 7"),
    ],
)
def test_tls_defaults_warn_at_30_days_and_fail_at_7(deps, days, status, message):
    deps.not_after = deps.now() + timedelta(days=days)
    out = run(deps, "tls", {"host": "h"})
    assert (out.status, out.message) == (status, message)


def test_tls_warning_tier_is_a_setting(deps):
    deps.not_after = deps.now() + timedelta(days=13)
    assert run(deps, "tls", {"host": "h", "warn_days": 10, "min_days": 5}).status == "ok"
    with pytest.raises(ValueError, match="'warn_days' must not be below 'min_days'"):
        validate_config([{"name": "t", "tls": {"host": "h", "warn_days": 3}}])


def test_postgres_write_is_passed_to_the_probe(deps):
    out = run(deps, "postgres", {"write": True})
    assert deps.calls[-1][-1] is True
    assert out.message == "query returned '1'; write committed"
    run(deps, "postgres", {})
    assert deps.calls[-1][-1] is False
