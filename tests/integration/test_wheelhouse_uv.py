"""Wheelhouses built with the real uv and pip against PyPI (issue 15): markers are evaluated for
each target's Python, a pure source-only package becomes a py3-none-any wheel, a compiled one
stops the build naming it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.vitals.django.plugins.module_utils.release import wheelhouse as wh

UV = str(Path(sys.executable).parent / "uv")
T313 = "3.13-x86_64-manylinux_2_40"
T311 = "3.11-x86_64-manylinux_2_36"


def run(argv, env):
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=dict(os.environ, **env))
    return done.returncode, done.stdout, done.stderr


def build(tmp_path, requirements, targets):
    req = tmp_path / "requirements.txt"
    req.write_text(requirements)
    version = subprocess.run([UV, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return wh.build_wheelhouses(
        targets,
        str(req),
        ["gunicorn==27.0.1"],
        cache_dir=str(tmp_path / "cache"),
        uv=UV,
        python=sys.executable,
        uv_version=version,
        run=run,
    )


def test_markers_are_evaluated_for_each_target(tmp_path):
    requirements = 'six==1.17.0; python_version >= "3.12"\ntoml==0.10.2; python_version < "3.12"\ndocopt==0.6.2\n'
    changed, houses, added = build(tmp_path, requirements, [T313, T311])
    assert changed
    assert added == ["gunicorn==27.0.1"]
    files = {t: set(os.listdir(h["path"])) for t, h in houses.items()}
    assert "six-1.17.0-py2.py3-none-any.whl" in files[T313]
    assert not any(n.startswith("toml-") for n in files[T313])
    assert "toml-0.10.2-py2.py3-none-any.whl" in files[T311]
    assert not any(n.startswith("six-") for n in files[T311])
    for names in files.values():
        assert "docopt-0.6.2-py2.py3-none-any.whl" in names
        assert "gunicorn-27.0.1-py3-none-any.whl" in names
    assert houses[T311]["pins"] == ["docopt==0.6.2", "gunicorn==27.0.1", "toml==0.10.2"]
    changed, again, _added = build(tmp_path, requirements, [T313, T311])
    assert not changed
    assert again == houses


def test_a_compiled_sdist_without_a_wheel_stops_the_build(tmp_path):
    with pytest.raises(wh.WheelhouseError, match=r"ujson-1\.35\.tar\.gz has no wheel for Python 3\.13 on x86_64"):
        build(tmp_path, "ujson==1.35\n", [T313])
