"""A release-tree builder."""

import json

import pytest


@pytest.fixture
def app_root(tmp_path):
    """A release tree factory: add(id, status=None) makes releases/<id> (with release.json when status)."""
    (tmp_path / "releases").mkdir()

    class Tree:
        root = tmp_path

        @staticmethod
        def add(release_id, status=None, sha="a" * 64):
            path = tmp_path / "releases" / release_id
            path.mkdir()
            if status:
                record = {"id": release_id, "status": status, "artifact_sha256": sha, "migrations": []}
                (path / "release.json").write_text(json.dumps(record))
            return path

        @staticmethod
        def link(release_id):
            (tmp_path / "current").symlink_to(f"releases/{release_id}")

        @staticmethod
        def record(release_id):
            return json.loads((tmp_path / "releases" / release_id / "release.json").read_text())

    return Tree
