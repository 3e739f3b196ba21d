# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release state on an app host: which releases exist, which is live, which to reuse, prune or
roll back to. Everything is read from `release.json` and the `current` symlink, never from mtimes.

Layout (docs/architecture.md): <root>/releases/<UTC-id>/release.json, <root>/current -> releases/<id>.
"""

from __future__ import annotations

import json
import os
import re
import tempfile

RELEASE_ID_RE = re.compile(r"^\d{8}T\d{6}Z$")
STATUSES = ("prepared", "live", "previous", "failed")
# A release directory without a readable release.json never finished `prepare`.
INCOMPLETE = "incomplete"
REUSABLE = ("live", "previous", "prepared")


class ReleaseError(Exception):
    """A request that the release state cannot satisfy."""


def read_json(path):
    """The JSON object in path, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def current_id(root):
    """The release id `current` points to, or None."""
    link = os.path.join(root, "current")
    if not os.path.islink(link):
        return None
    target = os.path.basename(os.path.normpath(os.readlink(link)))
    return target if RELEASE_ID_RE.match(target) else None


def scan(root):
    """Every release under root/releases, sorted by id (= by creation time), with its record."""
    releases_dir = os.path.join(root, "releases")
    try:
        names = os.listdir(releases_dir)
    except FileNotFoundError:
        return []
    releases = []
    for name in sorted(names):
        path = os.path.join(releases_dir, name)
        if not RELEASE_ID_RE.match(name) or not os.path.isdir(path) or os.path.islink(path):
            continue
        record = read_json(os.path.join(path, "release.json")) or {}
        status = record.get("status") if record.get("status") in STATUSES else INCOMPLETE
        releases.append(
            {
                "id": name,
                "path": path,
                "status": status,
                "version": record.get("version"),
                "artifact_sha256": record.get("artifact_sha256"),
                "created_at": record.get("created_at"),
                "migrations": record.get("migrations", []),
            }
        )
    return releases


def previous_id(releases, current):
    """The release to go back to from current.

    The one recorded as `previous` wins; without such a record (a first switch, or state
    written by hand) it is the newest finished, non-failed release older than current.
    """
    recorded = [r["id"] for r in releases if r["status"] == "previous" and r["id"] != current]
    if recorded:
        return recorded[-1]
    older = [
        r["id"] for r in releases if (current is None or r["id"] < current) and r["status"] in ("live", "prepared")
    ]
    return older[-1] if older else None


def reusable_id(releases, current, artifact_sha256):
    """A finished release holding this artifact: current first, then the newest other one."""
    if not artifact_sha256:
        return None
    matches = [r["id"] for r in releases if r["artifact_sha256"] == artifact_sha256 and r["status"] in REUSABLE]
    if current in matches:
        return current
    return matches[-1] if matches else None


def prune_ids(releases, current, previous, keep):
    """Ids to delete so that at most `keep` releases remain; current and previous always stay.

    The newest releases are kept; failed and incomplete ones count like the others, so a
    failed release stays for inspection until newer releases push it out.
    """
    if keep < 1:
        raise ReleaseError("keep must be at least 1")
    protected = {i for i in (current, previous) if i}
    others = [r["id"] for r in releases if r["id"] not in protected]
    room = max(keep - len(protected), 0)
    kept = set(others[len(others) - room :]) if room else set()
    return [i for i in others if i not in kept]


def rollback_target(releases, current, previous, wanted=None):
    """The release a rollback switches to: `wanted` when given, else the previous one."""
    by_id = {r["id"]: r for r in releases}
    target = wanted or previous
    if not target:
        raise ReleaseError("no previous release to roll back to")
    if target not in by_id:
        raise ReleaseError(f"release {target} does not exist")
    if by_id[target]["status"] in ("failed", INCOMPLETE):
        raise ReleaseError(f"release {target} is {by_id[target]['status']}; refusing to switch to it")
    return target


def describe(root, artifact_sha256=None, keep=5, wanted=None):
    """Everything a role needs to decide: releases, current, previous, reuse, prune, rollback."""
    releases = scan(root)
    current = current_id(root)
    previous = previous_id(releases, current)
    result = {
        "releases": releases,
        "current": current,
        "previous": previous,
        "reuse": reusable_id(releases, current, artifact_sha256),
        "prune": prune_ids(releases, current, previous, keep),
        "rollback_to": None,
        "rollback_error": None,
    }
    try:
        result["rollback_to"] = rollback_target(releases, current, previous, wanted)
    except ReleaseError as e:
        result["rollback_error"] = str(e)
    return result


def switch_statuses(releases, target, current):
    """Status changes (id -> status) for making target live when current is live now.

    The release that was live becomes `previous`; an older `previous` becomes `prepared`
    (finished and switchable, but no longer the rollback target). Failed stays failed.
    Re-switching to the live release keeps the recorded previous one.
    """
    changes = {}
    for r in releases:
        if r["id"] == target:
            wanted = "live"
        elif r["id"] == current:
            wanted = "previous"
        elif r["status"] == "live" or (r["status"] == "previous" and current != target):
            wanted = "prepared"
        else:
            continue
        if r["status"] != wanted:
            changes[r["id"]] = wanted
    return changes


def link_target(release_id):
    """What `current` points to: relative, so the tree can be moved or mounted elsewhere."""
    return f"releases/{release_id}"


def switch_link(root, release_id):
    """Point root/current at the release atomically (new symlink, then rename over current)."""
    link = os.path.join(root, "current")
    tmp = os.path.join(root, f".current-{os.getpid()}")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(link_target(release_id), tmp)
    os.replace(tmp, link)


def record_fields(root, release_id, updates):
    """Merge updates into the release's release.json, written atomically."""
    path = os.path.join(root, "releases", release_id, "release.json")
    write_atomic(path, dumps(merge_record(read_json(path), updates)))


def make_live(root, target, before, statuses):
    """Point current at target (unless it is already) and record the statuses of switch_statuses."""
    if before != target:
        switch_link(root, target)
    for release_id, status in sorted(statuses.items()):
        record_fields(root, release_id, {"status": status})


def merge_record(existing, updates):
    """The record after applying updates (None values are ignored); existing is not modified."""
    merged = dict(existing or {})
    merged.update({k: v for k, v in updates.items() if v is not None})
    if merged.get("status") not in STATUSES:
        raise ReleaseError(f"status must be one of {', '.join(STATUSES)}")
    return merged


def dumps(record):
    """Stable JSON text of a record, so unchanged content compares equal byte for byte."""
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def write_atomic(path, text):
    """Replace path with text through a temporary file and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".release-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
