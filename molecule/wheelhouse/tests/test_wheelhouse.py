"""What each host installed from its wheelhouse (issue 15): markers evaluated for the host's
Python, the pure-Python source-only dependency built into a wheel, the server the collection adds,
the commit as the version; and a compiled source-only dependency that stops the build."""

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO / "project"
ROOT = "/srv/wheeltest"


def release(host):
    """The host's one release directory."""
    (rid,) = host.check_output(f"ls {ROOT}/releases").split()
    return f"{ROOT}/releases/{rid}"


def installed(host):
    """name -> version of the release venv's packages."""
    out = host.check_output(f"{release(host)}/venv/bin/python -m pip list --format=json --disable-pip-version-check")
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


def python_minor(host):
    return int(host.check_output("python3 -c 'import sys; print(sys.version_info[1])'"))


def test_markers_are_evaluated_for_the_hosts_python(host):
    packages = installed(host)
    if python_minor(host) >= 12:
        assert packages.get("six") == "1.17.0"
        assert "toml" not in packages
    else:
        assert packages.get("toml") == "0.10.2"
        assert "six" not in packages


def test_a_pure_source_only_dependency_installs_as_a_built_wheel(host):
    assert installed(host).get("docopt") == "0.6.2"
    assert host.file(f"{release(host)}/wheelhouse/docopt-0.6.2-py2.py3-none-any.whl").exists
    assert not host.file(f"{release(host)}/wheelhouse/docopt-0.6.2.tar.gz").exists


def test_the_collection_adds_gunicorn_and_psycopg(host):
    packages = installed(host)
    assert packages.get("gunicorn") == "27.0.1"
    assert packages.get("psycopg") == "3.3.9"
    impl = host.check_output(f"{release(host)}/venv/bin/python -c 'import psycopg; print(psycopg.pq.__impl__)'")
    assert impl == "binary"


def test_the_version_is_the_commit_of_the_work_tree(host):
    commit = subprocess.run(
        ["git", "-C", str(PROJECT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    changes = subprocess.run(
        ["git", "-C", str(PROJECT), "status", "--porcelain", "--", "."], capture_output=True, text=True, check=True
    ).stdout.strip()
    record = json.loads(host.file(f"{release(host)}/release.json").content_string)
    assert record["version"] == commit + ("-dirty" if changes else "")


@functools.cache
def build_with_a_compiled_sdist(workdir):
    """Run converge.yml on a copy of the project that adds ujson 1.35 (no wheel, C code): (rc, log)."""
    source = Path(workdir) / "project"
    shutil.copytree(PROJECT, source)
    with open(source / "requirements.txt", "a", encoding="utf-8") as f:
        f.write("ujson==1.35\n")
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
    argv += [str(SCENARIO / "converge.yml"), "-e", f"release_source_dir={source}"]
    run = subprocess.run(argv, capture_output=True, text=True, check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    return run.returncode, run.stdout + run.stderr


def test_a_compiled_source_only_dependency_stops_the_build(host, tmp_path_factory):
    before = host.check_output(f"ls {ROOT}/releases")
    rc, log = build_with_a_compiled_sdist(str(tmp_path_factory.getbasetemp()))
    assert rc != 0, log[-3000:]
    assert "ujson-1.35.tar.gz has no wheel for Python 3." in log, log[-3000:]
    assert host.check_output(f"ls {ROOT}/releases") == before
