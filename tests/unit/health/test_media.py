"""Item 4 of issue 12: a file written as the app writes it must be served by nginx under /media/."""

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.checks import CHECKS
from ansible_collections.vitals.django.plugins.module_utils.health.deps import HttpResponse
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config

PROBE = "vitals health probe vitals-health-0123abcd\n"
OPTIONS = {
    "root": "/srv/demo/shared/media",
    "url": "http://127.0.0.1/media/",
    "host": "www.example.com",
    "user": "demo",
}


def run(deps, **options):
    check = validate_config([{"name": "media", "media": {**OPTIONS, **options}}]).checks[0]
    return CHECKS["media"](check.options, check.timeout, deps)


def test_the_file_is_written_as_the_app_user_with_its_umask_fetched_then_removed(deps):
    deps.commands["mkdir"] = (0, "640 demo:www-data\n", "")
    deps.http_response = HttpResponse(200, {}, PROBE, 0.01)
    out = run(deps)
    assert (out.status, out.message) == (
        "ok",
        "a file the app writes (640 demo:www-data) is served under http://127.0.0.1/media/",
    )
    write, fetch, remove = deps.calls
    assert write[0] == "run" and write[1][-2] == "/srv/demo/shared/media/vitals-health-0123abcd"
    assert (write[4], write[5]) == ("demo", 0o027)
    assert fetch[2] == "http://127.0.0.1/media/vitals-health-0123abcd/probe.txt"
    assert fetch[3]["headers"] == {"Host": "www.example.com"}
    assert remove[1] == ["rm", "-rf", "--", "/srv/demo/shared/media/vitals-health-0123abcd"]
    assert remove[4] == "demo"


@pytest.mark.parametrize(
    ("status", "body", "message", "transient"),
    [
        (403, "", "a file the app wrote (640 demo:demo) is answered HTTP 403: nginx cannot read it", False),
        (404, "", "a file the app wrote (640 demo:demo) is answered HTTP 404: nginx looks elsewhere", False),
        (502, "", "a file the app wrote (640 demo:demo) is answered HTTP 502", True),
        (200, "other", "answered another file's content", False),
    ],
)
def test_a_file_nginx_does_not_serve_is_critical_and_is_removed(deps, status, body, message, transient):
    deps.commands["mkdir"] = (0, "640 demo:demo\n", "")
    deps.http_response = HttpResponse(status, {}, body, 0.01)
    out = run(deps)
    assert out.status == "critical"
    assert message in out.message
    assert out.transient is transient
    assert deps.calls[-1][1][:2] == ["rm", "-rf"]


def test_the_file_is_removed_when_the_fetch_fails(deps):
    deps.commands["mkdir"] = (0, "640 demo:demo\n", "")
    deps.http_response = OSError("boom")
    with pytest.raises(OSError):
        run(deps)
    assert deps.calls[-1][1][:2] == ["rm", "-rf"]


def test_a_media_root_the_app_cannot_write_is_critical(deps):
    deps.commands["mkdir"] = (1, "", "mkdir: cannot create directory: Permission denied\n")
    out = run(deps)
    assert out.status == "critical"
    assert out.message.startswith("cannot write /srv/demo/shared/media/vitals-health-0123abcd/probe.txt as demo")


@pytest.mark.parametrize(("umask", "error"), [("27", "octal umask"), ("0999", "octal umask"), (True, "octal umask")])
def test_umask_is_validated(umask, error):
    with pytest.raises(ValueError, match=error):
        validate_config([{"name": "m", "media": {**OPTIONS, "umask": umask}}])


def test_umask_accepts_yaml_octal_and_strings():
    for value in ("0027", "027", 23):
        assert (
            validate_config([{"name": "m", "media": {**OPTIONS, "umask": value}}]).checks[0].options["umask"] == 0o027
        )
