"""Metadata records from the three sources: parsing, checks, hashes (no database)."""

from __future__ import annotations

import copy

from iblpipe.sources import records as R
from iblpipe.sources.alyx_dump import from_dumpdata
from iblpipe.sources.alyx_rest import from_rest
from tests.alyx_fixtures import dump_to_rest, small_dump


def test_dump_and_rest_give_identical_records():
    items = small_dump()
    dump, rest = from_dumpdata(items), from_rest(dump_to_rest(items))
    assert not dump.bad and not rest.bad
    for kind in R.KINDS:
        a = sorted(dump.records[kind], key=R.record_key)
        b = sorted(rest.records[kind], key=R.record_key)
        assert a == b, kind
        assert [R.content_hash(r) for r in a] == [R.content_hash(r) for r in b]


def test_best_trajectory_is_highest_provenance():
    snap = from_dumpdata(small_dump(n_labs=1))
    trajectories = snap.records["trajectory"]
    assert sorted((t.provenance_rank, t.is_best) for t in trajectories) == [(10, False), (70, True)]


def test_bad_records_cascade_to_dependents():
    items = small_dump(n_labs=1, n_mice=2, n_sessions=2)
    subject = next(it for it in items if it["model"] == "subjects.subject")
    broken = copy.deepcopy(items)
    for it in broken:
        if it["pk"] == subject["pk"]:
            it["fields"]["birth_date"] = "2024-13-45"
    snap = from_dumpdata(broken)
    skipped = {(b.kind, b.record_id) for b in snap.bad}
    assert ("subject", subject["pk"]) in skipped
    dependents = [it for it in items if it["fields"].get("subject") == subject["pk"]]
    assert {it["pk"] for it in dependents} <= {b.record_id for b in snap.bad}
    # the insertion of that subject's session goes too (missing session)
    assert any(b.kind == "insertion" for b in snap.bad)
    assert len(snap.records["subject"]) == 1


def test_hash_changes_with_content_only():
    s = from_dumpdata(small_dump(n_labs=1, n_mice=1, n_sessions=1)).records["session"][0]
    assert R.content_hash(s) == R.content_hash(copy.deepcopy(s))
    import dataclasses

    assert R.content_hash(s) != R.content_hash(dataclasses.replace(s, task_protocol="other"))
