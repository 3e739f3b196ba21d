"""The tracked cron runner (roles/cron/files/vitals_cron_runner.py) with real processes in a temp dir."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health import envfile

RUNNER_PATH = pathlib.Path(__file__).resolve().parents[2] / "roles" / "cron" / "files" / "vitals_cron_runner.py"
# The runner imports the env-file parser by the name the cron role installs it under.
sys.modules.setdefault("vitals_envfile", envfile)
_spec = importlib.util.spec_from_file_location("vitals_cron_runner", RUNNER_PATH)
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)


@pytest.fixture(autouse=True)
def envfile_lib(tmp_path_factory, monkeypatch):
    """The runner started as a command imports the parser as vitals_envfile, as the role installs it."""
    lib = tmp_path_factory.getbasetemp() / "envfile-lib"
    if not lib.exists():
        lib.mkdir()
        (lib / "vitals_envfile.py").symlink_to(envfile.__file__)
    monkeypatch.setenv("PYTHONPATH", str(lib))


@pytest.fixture
def dirs(tmp_path):
    paths = {name: tmp_path / name for name in ("config", "state", "lock", "log")}
    for path in paths.values():
        path.mkdir()
    return paths


def define(dirs, name, command, **extra):
    definition = {"name": name, "command": command, **extra}
    (dirs["config"] / (name + ".json")).write_text(json.dumps(definition))
    return definition


def run(dirs, definition, kill_grace=0.5):
    return runner.run_job(definition, str(dirs["state"]), str(dirs["lock"]), str(dirs["log"]), kill_grace)


def run_state(dirs, definition, kill_grace=0.5):
    """Run a job that cannot be skipped and return its recorded state."""
    skipped, state = run(dirs, definition, kill_grace)
    assert not skipped
    return state


def cli(dirs, *args):
    return [
        sys.executable,
        str(RUNNER_PATH),
        "--config-dir",
        str(dirs["config"]),
        "--state-dir",
        str(dirs["state"]),
        "--lock-dir",
        str(dirs["lock"]),
        "--log-dir",
        str(dirs["log"]),
        *args,
    ]


def process_state(pid):
    """The process's state letter, None once it is gone (a zombie waiting for its reaper is dead too)."""
    try:
        return pathlib.Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def dies(pid, within=5.0):
    """True once the process is gone or a zombie: SIGKILL is delivered asynchronously, so a busy
    machine may still show the child running for a moment after the kill."""
    deadline = time.monotonic() + within
    while process_state(pid) not in {None, "Z"}:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stored_state(dirs, name):
    return json.loads((dirs["state"] / (name + ".json")).read_text())


def test_success_records_the_run_and_the_output(dirs):
    definition = define(dirs, "hello", ["sh", "-c", "echo out; echo err >&2"], timeout=10)
    skipped, state = run(dirs, definition)
    assert not skipped
    assert state == stored_state(dirs, "hello")
    last = state["last_run"]
    assert (last["status"], last["exit_code"]) == ("success", 0)
    assert last["output_tail"] == "out\nerr\n"
    assert state["running"] is None
    assert state["last_success_at"] == last["finished_at"]
    assert last["duration_s"] >= 0
    log = (dirs["log"] / "hello.log").read_text()
    assert "out\nerr\n" in log
    assert "start hello" in log
    assert "end hello: success exit=0" in log


def test_failure_keeps_the_last_success(dirs):
    run(dirs, define(dirs, "flaky", ["true"], timeout=10))
    first_success = stored_state(dirs, "flaky")["last_success_at"]
    state = run_state(dirs, define(dirs, "flaky", ["sh", "-c", "echo broken; exit 3"], timeout=10))
    assert (state["last_run"]["status"], state["last_run"]["exit_code"]) == ("failed", 3)
    assert state["last_success_at"] == first_success
    assert state["last_run"]["output_tail"] == "broken\n"


def test_missing_command_is_a_failed_run(dirs):
    state = run_state(dirs, define(dirs, "ghost", ["/nonexistent/command"], timeout=10))
    assert (state["last_run"]["status"], state["last_run"]["exit_code"]) == ("failed", 127)
    assert "cannot start" in state["last_run"]["output_tail"]


def test_unknown_user_is_a_failed_run_not_a_stuck_one(dirs):
    state = run_state(dirs, define(dirs, "nouser", ["true"], timeout=10, user="no-such-user-here"))
    assert (state["running"], state["last_run"]["status"], state["last_run"]["exit_code"]) == (None, "failed", 126)
    assert "no-such-user-here" in state["last_run"]["output_tail"]


def test_timeout_kills_the_whole_process_group(dirs, tmp_path):
    pidfile = tmp_path / "child.pid"
    command = ["sh", "-c", "sleep 60 & echo $! > %s; wait" % pidfile]
    began = time.monotonic()
    # 2 s: on a busy machine the shell must get to write the child's pid before the kill.
    state = run_state(dirs, define(dirs, "slow", command, timeout=2))
    assert time.monotonic() - began < 10
    assert (state["last_run"]["status"], state["last_run"]["exit_code"]) == ("timeout", None)
    assert "killed after the 2s timeout" in (dirs["log"] / "slow.log").read_text()
    assert dies(int(pidfile.read_text())), "the background child survived"


def test_timeout_kills_a_job_that_ignores_term(dirs):
    command = ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"]
    began = time.monotonic()
    state = run_state(dirs, define(dirs, "stubborn", command, timeout=0.5), kill_grace=0.3)
    assert time.monotonic() - began < 5
    assert state["last_run"]["status"] == "timeout"
    assert state["last_run"]["output_tail"].startswith("ready\n")


def test_overlapping_start_is_skipped_not_started(dirs, tmp_path):
    marker = tmp_path / "started"
    define(dirs, "long", ["sh", "-c", "echo x >> %s; sleep 2" % marker], timeout=30)
    first = subprocess.Popen(cli(dirs, "run", "long"))
    try:
        deadline = time.monotonic() + 10
        while not marker.exists():
            assert time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.05)
        assert stored_state(dirs, "long")["running"]["pid"] == first.pid
        second = subprocess.run(cli(dirs, "run", "long"), check=False)
        assert second.returncode == runner.EXIT_SKIPPED
        state = stored_state(dirs, "long")
        assert state["skipped_count"] == 1
        assert state["last_skipped_at"] is not None
        assert state["running"]["pid"] == first.pid
    finally:
        assert first.wait(timeout=30) == 0
    state = stored_state(dirs, "long")
    assert marker.read_text() == "x\n", "the skipped start must not run the command"
    assert state["running"] is None
    assert state["last_run"]["status"] == "success"
    assert state["skipped_count"] == 1, "the end of the first run must keep the skip it did not see"


def test_output_tail_is_bounded_and_ends_with_the_last_output(dirs):
    command = ["sh", "-c", "head -c 10000 /dev/zero | tr '\\0' a; echo; echo END"]
    state = run_state(dirs, define(dirs, "chatty", command, timeout=10))
    tail = state["last_run"]["output_tail"]
    assert len(tail.encode()) == runner.TAIL_BYTES
    assert tail.endswith("a\nEND\n")


def test_output_tail_only_holds_this_run(dirs):
    run(dirs, define(dirs, "twice", ["echo", "first"], timeout=10))
    state = run_state(dirs, define(dirs, "twice", ["echo", "second"], timeout=10))
    assert state["last_run"]["output_tail"] == "second\n"
    assert (dirs["log"] / "twice.log").read_text().splitlines().count("first") == 1


def test_job_gets_the_env_file_and_the_venv_on_path(dirs, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nDJANGO_SETTINGS_MODULE=config.settings\nexport QUOTED='a b'\n")
    definition = define(
        dirs,
        "envjob",
        ["sh", "-c", 'echo "$DJANGO_SETTINGS_MODULE|$QUOTED|$PATH|$VITALS_CRON_JOB"'],
        timeout=10,
        env_file=str(env_file),
        path_prepend=["/srv/demo/current/venv/bin"],
    )
    state = run_state(dirs, definition)
    settings, quoted, path, job = state["last_run"]["output_tail"].strip().split("|")
    assert (settings, quoted, job) == ("config.settings", "a b", "envjob")
    assert path.startswith("/srv/demo/current/venv/bin:")


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
def test_job_runs_as_its_user(dirs):
    state = run_state(dirs, define(dirs, "asnobody", ["sh", "-c", "id -un; echo $HOME"], timeout=10, user="nobody"))
    assert state["last_run"]["output_tail"] == "nobody\n/nonexistent\n"


def test_cli_exit_codes(dirs):
    define(dirs, "ok", ["true"], timeout=10)
    define(dirs, "bad", ["sh", "-c", "exit 5"], timeout=10)
    define(dirs, "hang", ["sleep", "30"], timeout=0.3)
    assert subprocess.run(cli(dirs, "run", "ok"), check=False).returncode == 0
    assert subprocess.run(cli(dirs, "run", "bad"), check=False).returncode == 5
    hang = subprocess.run(cli(dirs, "run", "--kill-grace", "0.2", "hang"), check=False)
    assert hang.returncode == runner.EXIT_TIMEOUT
    missing = subprocess.run(cli(dirs, "run", "missing"), check=False, capture_output=True, text=True)
    assert missing.returncode == runner.EXIT_USAGE
    assert "missing.json" in missing.stderr


def test_success_is_silent_so_cron_mails_nothing(dirs, tmp_path):
    marker = tmp_path / "hook-ran"
    define(dirs, "quiet", ["sh", "-c", "echo fine"], timeout=10, on_failure=["touch", str(marker)])
    done = subprocess.run(cli(dirs, "run", "quiet"), check=False, capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert not marker.exists()


def test_failure_writes_its_reason_to_stderr_and_runs_on_failure(dirs, tmp_path):
    received = tmp_path / "received"
    hook = ["sh", "-c", 'cat > "$0.json"; env | grep ^VITALS_CRON_ | sort > "$0.env"', str(received)]
    define(dirs, "broken", ["sh", "-c", "echo disk full >&2; exit 7"], timeout=10, on_failure=hook)
    done = subprocess.run(cli(dirs, "run", "broken"), check=False, capture_output=True, text=True)
    assert done.returncode == 7
    assert done.stdout == ""
    assert "job broken failed with exit code 7" in done.stderr
    assert done.stderr.rstrip().endswith("disk full")
    payload = json.loads((tmp_path / "received.json").read_text())
    assert (payload["job"], payload["status"], payload["exit_code"]) == ("broken", "failed", 7)
    assert payload["output_tail"] == "disk full\n"
    env = (tmp_path / "received.env").read_text().splitlines()
    assert "VITALS_CRON_JOB=broken" in env
    assert "VITALS_CRON_STATUS=failed" in env
    assert "VITALS_CRON_EXIT_CODE=7" in env


def test_timeout_is_reported_on_stderr_and_to_on_failure(dirs, tmp_path):
    received = tmp_path / "received.json"
    define(dirs, "slow", ["sleep", "30"], timeout=0.3, on_failure=["sh", "-c", 'cat > "$0"', str(received)])
    done = subprocess.run(cli(dirs, "run", "--kill-grace", "0.2", "slow"), check=False, capture_output=True, text=True)
    assert done.returncode == runner.EXIT_TIMEOUT
    assert "job slow timed out" in done.stderr
    payload = json.loads(received.read_text())
    assert (payload["status"], payload["exit_code"]) == ("timeout", None)


def test_a_failing_on_failure_command_is_reported_too(dirs):
    define(dirs, "twice", ["false"], timeout=10, on_failure=["sh", "-c", "echo webhook down >&2; exit 2"])
    done = subprocess.run(cli(dirs, "run", "twice"), check=False, capture_output=True, text=True)
    assert done.returncode == 1
    assert "on_failure command failed (exit 2): webhook down" in done.stderr
    missing = define(dirs, "twice", ["false"], timeout=10, on_failure=["/nonexistent/hook"])
    assert runner.run_on_failure(missing["on_failure"], "twice", stored_state(dirs, "twice")["last_run"]).startswith(
        "on_failure command cannot start"
    )


def test_on_failure_must_be_a_command_list(dirs):
    define(dirs, "odd", ["true"], on_failure="mail root")
    done = subprocess.run(cli(dirs, "run", "odd"), check=False, capture_output=True, text=True)
    assert done.returncode == runner.EXIT_USAGE
    assert "'on_failure' must be a command list" in done.stderr
    define(dirs, "odd", ["false"], on_failure=[])
    done = subprocess.run(cli(dirs, "run", "odd"), check=False, capture_output=True, text=True)
    assert (done.returncode, done.stderr.startswith("vitals-cron: job odd failed")) == (1, True)


def test_failure_report():
    run_ = {"status": "failed", "exit_code": 3, "started_at": "2026-12-03T08:00:00Z", "output_tail": "x\n"}
    assert runner.failure_report("j", {**run_, "status": "success", "exit_code": 0}) is None
    assert runner.failure_report("j", run_) == (
        "vitals-cron: job j failed with exit code 3 (started 2026-12-03T08:00:00Z).\n--- output tail ---\nx\n"
    )
    timeout = runner.failure_report("j", {**run_, "status": "timeout", "exit_code": None, "duration_s": 61.2})
    assert timeout.startswith("vitals-cron: job j timed out after 61s and was killed")


def test_list_shows_every_job(dirs):
    define(dirs, "ok", ["true"], timeout=10)
    define(dirs, "bad", ["false"], timeout=10)
    define(dirs, "new", ["true"], timeout=10)
    for name in ("ok", "bad"):
        subprocess.run(cli(dirs, "run", name), check=False)
    rows = {row["job"]: row for row in json.loads(subprocess.check_output(cli(dirs, "list", "--json")))}
    assert {name: row["status"] for name, row in rows.items()} == {"ok": "success", "bad": "failed", "new": "never"}
    assert rows["bad"]["exit_code"] == 1
    table = subprocess.check_output(cli(dirs, "list"), text=True).splitlines()
    assert table[0].split() == ["JOB", "STATUS", "LAST", "START", "DURATION", "EXIT", "LAST", "SUCCESS", "SKIPPED"]
    assert [line.split()[:2] for line in table[1:]] == [["bad", "failed"], ["new", "never"], ["ok", "success"]]


def test_list_marks_a_job_whose_definition_was_removed(dirs):
    subprocess.run(cli(dirs, "run", "gone"), check=False)
    runner.write_state(str(dirs["state"] / "gone.json"), runner.empty_state("gone"))
    (row,) = runner.job_rows(str(dirs["config"]), str(dirs["state"]))
    assert (row["job"], row["configured"]) == ("gone", False)
    assert "gone (removed)" in runner.format_table([row])


def test_write_state_is_atomic_and_leaves_no_temporary_file(dirs):
    path = dirs["state"] / "x.json"
    runner.write_state(str(path), {"job": "x"})
    runner.write_state(str(path), {"job": "x", "n": 2})
    assert json.loads(path.read_text()) == {"job": "x", "n": 2}
    assert os.listdir(dirs["state"]) == ["x.json"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_read_state_of_a_job_that_never_ran():
    state = runner.read_state("/nonexistent/never.json", "never")
    assert state == runner.empty_state("never")


@pytest.mark.parametrize(
    ("returncode", "timed_out", "expected"),
    [
        (0, False, ("success", 0)),
        (2, False, ("failed", 2)),
        (-9, False, ("failed", 137)),
        (-15, True, ("timeout", None)),
    ],
)
def test_classify(returncode, timed_out, expected):
    assert runner.classify(returncode, timed_out) == expected


def test_record_functions_follow_the_state_format():
    start = datetime.datetime(2026, 11, 23, 18, 0, 0, tzinfo=datetime.UTC)
    end = start + datetime.timedelta(seconds=2.1)
    state = runner.record_start(runner.empty_state("clearsessions"), 1234, start)
    assert state["running"] == {"pid": 1234, "started_at": "2026-11-23T18:00:00Z"}
    state = runner.record_skip(state, end)
    assert (state["skipped_count"], state["last_skipped_at"]) == (1, "2026-11-23T18:00:02Z")
    state = runner.record_end(state, status="success", exit_code=0, started_at=start, finished_at=end, output_tail="")
    assert state == {
        "job": "clearsessions",
        "running": None,
        "last_run": {
            "status": "success",
            "exit_code": 0,
            "started_at": "2026-11-23T18:00:00Z",
            "finished_at": "2026-11-23T18:00:02Z",
            "duration_s": 2.1,
            "output_tail": "",
        },
        "last_success_at": "2026-11-23T18:00:02Z",
        "last_skipped_at": "2026-11-23T18:00:02Z",
        "skipped_count": 1,
    }
