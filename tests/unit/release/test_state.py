"""Release state: previous from records, reuse, prune and rollback choices, atomic switch."""

import os

import pytest
from ansible_collections.vitals.django.plugins.module_utils.release import state

IDS = ["20261101T000000Z", "20261102T000000Z", "20261103T000000Z", "20261104T000000Z", "20261105T000000Z"]


def releases(*statuses):
    return [
        {"id": i, "status": s, "artifact_sha256": f"sha{n}"}
        for n, (i, s) in enumerate(zip(IDS, statuses, strict=False))
    ]


def test_scan_reads_records_and_flags_unfinished(app_root):
    app_root.add(IDS[0], "previous")
    app_root.add(IDS[1])  # no release.json: prepare never finished
    (app_root.root / "releases" / "not-a-release").mkdir()
    found = state.scan(str(app_root.root))
    assert [(r["id"], r["status"]) for r in found] == [(IDS[0], "previous"), (IDS[1], state.INCOMPLETE)]


def test_current_id_follows_the_symlink(app_root):
    assert state.current_id(str(app_root.root)) is None
    app_root.add(IDS[2], "live")
    app_root.link(IDS[2])
    assert state.current_id(str(app_root.root)) == IDS[2]


def test_previous_is_the_recorded_one_not_the_newest():
    rels = releases("previous", "prepared", "live")
    assert state.previous_id(rels, IDS[2]) == IDS[0]


def test_previous_falls_back_to_newest_finished_older_release():
    rels = releases("prepared", "failed", "live", "prepared")
    assert state.previous_id(rels, IDS[2]) == IDS[0]


def test_no_previous_on_first_release():
    assert state.previous_id(releases("live"), IDS[0]) is None


def test_reuse_prefers_current_and_skips_failed():
    rels = [
        {"id": IDS[0], "status": "previous", "artifact_sha256": "x"},
        {"id": IDS[1], "status": "live", "artifact_sha256": "x"},
        {"id": IDS[2], "status": "failed", "artifact_sha256": "y"},
    ]
    assert state.reusable_id(rels, IDS[1], "x") == IDS[1]
    assert state.reusable_id(rels, IDS[2], "x") == IDS[1]
    assert state.reusable_id(rels, IDS[1], "y") is None
    assert state.reusable_id(rels, IDS[1], None) is None


def test_prune_keeps_newest_and_never_current_or_previous():
    rels = releases("prepared", "previous", "failed", "prepared", "prepared")
    # current is the oldest (a rollback went far back); previous is IDS[1].
    assert state.prune_ids(rels, IDS[0], IDS[1], keep=3) == [IDS[2], IDS[3]]
    assert state.prune_ids(rels, IDS[0], IDS[1], keep=1) == [IDS[2], IDS[3], IDS[4]]
    assert state.prune_ids(rels, IDS[4], IDS[3], keep=5) == []


def test_prune_rejects_keep_below_one():
    with pytest.raises(state.ReleaseError):
        state.prune_ids([], None, None, keep=0)


def test_rollback_target_default_named_and_refusals():
    rels = releases("previous", "failed", "live")
    assert state.rollback_target(rels, IDS[2], IDS[0]) == IDS[0]
    assert state.rollback_target(rels, IDS[2], IDS[0], wanted=IDS[0]) == IDS[0]
    for wanted, previous in ((IDS[1], IDS[0]), ("20990101T000000Z", IDS[0]), (None, None)):
        with pytest.raises(state.ReleaseError):
            state.rollback_target(rels, IDS[2], previous, wanted=wanted)


def test_switch_statuses_rotate_live_previous_prepared():
    rels = releases("previous", "live", "prepared", "failed")
    assert state.switch_statuses(rels, IDS[2], IDS[1]) == {IDS[0]: "prepared", IDS[1]: "previous", IDS[2]: "live"}
    # Already live and recorded: nothing to write.
    assert state.switch_statuses(releases("previous", "live"), IDS[1], IDS[1]) == {}
    # A stale second `live` record (a crash between link and records) is demoted.
    assert state.switch_statuses(releases("live", "live"), IDS[1], IDS[1]) == {IDS[0]: "prepared"}


def test_switch_link_replaces_current_atomically(app_root):
    app_root.add(IDS[0], "live")
    app_root.add(IDS[1], "prepared")
    app_root.link(IDS[0])
    state.switch_link(str(app_root.root), IDS[1])
    assert os.readlink(app_root.root / "current") == f"releases/{IDS[1]}"
    assert sorted(p.name for p in app_root.root.iterdir()) == ["current", "releases"]


def test_describe_combines_everything(app_root):
    app_root.add(IDS[0], "previous", sha="old")
    app_root.add(IDS[1], "live", sha="new")
    app_root.link(IDS[1])
    info = state.describe(str(app_root.root), artifact_sha256="new", keep=5)
    assert (info["current"], info["previous"], info["reuse"], info["prune"]) == (IDS[1], IDS[0], IDS[1], [])
    assert info["rollback_to"] == IDS[0] and info["rollback_error"] is None


def test_merge_record_ignores_none_and_validates_status():
    merged = state.merge_record({"status": "prepared", "version": "1"}, {"status": None, "migrations": ["a.0001"]})
    assert merged == {"status": "prepared", "version": "1", "migrations": ["a.0001"]}
    with pytest.raises(state.ReleaseError):
        state.merge_record({}, {"version": "1"})


def test_write_atomic_and_stable_dumps(tmp_path):
    path = tmp_path / "release.json"
    state.write_atomic(str(path), state.dumps({"b": 1, "a": 2}))
    assert path.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert state.read_json(str(path)) == {"a": 2, "b": 1}
    assert state.read_json(str(tmp_path / "missing.json")) is None


def test_make_live_links_current_and_records_the_statuses(app_root):
    root = str(app_root.root)
    app_root.add(IDS[0], "live")
    app_root.add(IDS[1], "prepared")
    app_root.link(IDS[0])
    statuses = state.switch_statuses(state.scan(root), IDS[1], IDS[0])
    state.make_live(root, IDS[1], IDS[0], statuses)
    assert state.current_id(root) == IDS[1]
    assert [(r["id"], r["status"]) for r in state.scan(root)] == [(IDS[0], "previous"), (IDS[1], "live")]


def test_record_fields_merges_into_the_release_record(app_root):
    root = str(app_root.root)
    app_root.add(IDS[0], "prepared")
    state.record_fields(root, IDS[0], {"status": "failed", "reason": "gate"})
    record = state.read_json(os.path.join(root, "releases", IDS[0], "release.json"))
    assert (record["status"], record["reason"], record["artifact_sha256"]) == ("failed", "gate", "a" * 64)
