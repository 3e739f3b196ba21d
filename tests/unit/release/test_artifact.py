"""Deterministic artifacts: same content -> same sha256, whatever the mtimes, owners or walk order."""

import io
import os
import tarfile

from ansible_collections.vitals.django.plugins.module_utils.release import artifact


def make_tree(root):
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "manage.py").write_text("#!/usr/bin/env python3\n")
    os.chmod(root / "manage.py", 0o700)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (root / "link").symlink_to("pkg/mod.py")
    return root


EXCLUDE = [".git", "__pycache__", "*.pyc"]


def test_same_content_gives_same_bytes_despite_mtimes(tmp_path):
    src = make_tree(tmp_path / "src")
    first, second = io.BytesIO(), io.BytesIO()
    artifact.write_tarball(first, [("", str(src))], EXCLUDE)
    os.utime(src / "pkg" / "mod.py", (1, 1))
    artifact.write_tarball(second, [("", str(src))], EXCLUDE)
    assert first.getvalue() == second.getvalue()


def test_entries_are_normalised_sorted_and_filtered(tmp_path):
    src = make_tree(tmp_path / "src")
    wheels = tmp_path / "wh"
    wheels.mkdir()
    (wheels / "a-1.0-py3-none-any.whl").write_bytes(b"wheel")
    buf = io.BytesIO()
    artifact.write_tarball(buf, [("", str(src)), ("wheelhouse/", str(wheels))], EXCLUDE)
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names == ["link", "manage.py", "pkg", "pkg/mod.py", "wheelhouse", "wheelhouse/a-1.0-py3-none-any.whl"]
    by_name = {m.name: m for m in members}
    assert by_name["manage.py"].mode == 0o755 and by_name["pkg/mod.py"].mode == 0o644
    assert by_name["link"].issym() and by_name["link"].linkname == "pkg/mod.py"
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", artifact.FIXED_MTIME)}


def test_gzip_header_has_no_time(tmp_path):
    buf = io.BytesIO()
    artifact.write_tarball(buf, [("", str(make_tree(tmp_path / "src")))], EXCLUDE)
    assert buf.getvalue()[4:8] == b"\0\0\0\0"


def test_build_artifact_reports_change_only_when_bytes_differ(tmp_path):
    src = make_tree(tmp_path / "src")
    dest = tmp_path / "out" / "a.tar.gz"
    changed, sha = artifact.build_artifact(str(dest), [("", str(src))], EXCLUDE)
    assert changed and sha == artifact.sha256_file(str(dest))
    assert artifact.build_artifact(str(dest), [("", str(src))], EXCLUDE) == (False, sha)
    (src / "pkg" / "mod.py").write_text("x = 2\n")
    changed, new_sha = artifact.build_artifact(str(dest), [("", str(src))], EXCLUDE, check_mode=True)
    assert changed and new_sha != sha and artifact.sha256_file(str(dest)) == sha
    assert sorted(os.listdir(dest.parent)) == ["a.tar.gz"]


def test_exclude_matches_any_path_component():
    assert artifact.is_excluded("a/__pycache__/b.pyc", ["__pycache__"])
    assert artifact.is_excluded("x.pyc", ["*.pyc"])
    assert not artifact.is_excluded("catalog/static/site.css", ["__pycache__", "*.pyc"])
