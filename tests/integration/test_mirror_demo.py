"""Mirroring the synthetic demo lab (fixture ``demo_lab``; skipped until the demo generator provides it).

Counts equal the dump; an edited dump mirrors exactly its changes and invalidates exactly
their dependents; dump, Alyx REST (real ONE client, local server) and ONE cache agree.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections import Counter

import pytest

from iblpipe import mirror as M
from iblpipe.schemas import acquisition, behavior, subject
from iblpipe.sources.alyx_dump import from_dumpdata, read_dump
from iblpipe.sources.alyx_rest import read_rest
from iblpipe.sources.one_cache import read_one_cache
from tests.alyx_fixtures import AlyxServer, dump_to_rest
from tests.integration.mirror_helpers import MODEL_TABLES, ONE_CACHE_COLUMNS, assert_same, contents, reset


@pytest.fixture(scope="module")
def demo(prefix, request):
    try:
        root = request.getfixturevalue("demo_lab")
    except pytest.FixtureLookupError:
        pytest.skip("no demo_lab fixture yet (demo generator not landed)")
    items = json.loads((root / "alyx_dump.json").read_text())
    reset()
    report = M.mirror(read_dump(root / "alyx_dump.json"))
    return root, items, report, contents()


def test_counts_equal_the_dump(demo):
    _, items, report, _ = demo
    assert not report.bad
    counts = Counter(it["model"] for it in items)
    for model, table in MODEL_TABLES.items():
        assert len(table()) == counts[model], model
    assert len(acquisition.Session.User()) == sum(
        len(it["fields"]["users"]) for it in items if it["model"] == "actions.session"
    )
    assert M.mirror(from_dumpdata(items)).changed is False


def test_edited_dump_mirrors_exactly_the_changes_and_invalidates_dependents(demo, monkeypatch):
    root, items, _, _ = demo
    monkeypatch.setenv("IBLPIPE_DATA_ROOT", str(root))
    sessions = [it for it in items if it["model"] == "actions.session"]
    changed, kept = sessions[0], sessions[1]
    # the subject to delete: another mouse than the changed and kept sessions'
    gone = next(
        it["pk"]
        for it in items
        if it["model"] == "subjects.subject"
        and it["pk"] not in (changed["fields"]["subject"], kept["fields"]["subject"])
    )
    gone_sessions = {it["pk"] for it in sessions if it["fields"]["subject"] == gone}
    watched = [{"session_uuid": uuid.UUID(pk)} for pk in (changed["pk"], kept["pk"], *sorted(gone_sessions)[:1])]
    behavior.TrialSet.populate(watched, display_progress=False)
    assert len(behavior.TrialSet & watched) == len(watched)

    edited = copy.deepcopy(items)
    by_pk = {it["pk"]: it for it in edited}
    by_pk[changed["pk"]]["fields"]["task_protocol"] = "_iblrig_tasks_biasedChoiceWorld8.0.0"
    gone_insertions = {
        it["pk"]
        for it in edited
        if it["model"] == "experiments.probeinsertion" and it["fields"]["session"] in gone_sessions
    }
    edited = [
        it
        for it in edited
        if gone not in (it["pk"], it["fields"].get("subject"))
        and it["fields"].get("probe_insertion") not in gone_insertions
        and not (it["model"] == "experiments.probeinsertion" and it["pk"] in gone_insertions)
    ]
    new_weighing = str(uuid.uuid4())
    edited.append(
        {
            "model": "actions.weighing",
            "pk": new_weighing,
            "fields": {"subject": changed["fields"]["subject"], "date_time": "2030-01-01T08:00:00", "weight": 20.5},
        }
    )
    kept_pks = {it["pk"] for it in edited}
    removed = Counter(it["model"] for it in items if it["pk"] not in kept_pks)
    report = M.mirror(from_dumpdata(edited), allow_mass_delete=True)
    assert dict(report.updated) == {"session": 1}
    assert dict(report.inserted) == {"weighing": 1}
    assert sum(report.deleted.values()) == sum(removed.values())
    assert report.deleted["subject"] == 1 and report.deleted["session"] == len(gone_sessions)
    # invalidated: the changed session's and the deleted mouse's trials; the kept session's stay
    assert not (behavior.TrialSet & watched[0]) and not (behavior.TrialSet & watched[2])
    assert len(behavior.TrialSet & watched[1]) == 1
    assert report.invalidated["behavior._trial_set"] == 2
    assert (acquisition.Session & watched[0]).fetch1("task_protocol") == "_iblrig_tasks_biasedChoiceWorld8.0.0"
    assert len(subject.Weighing & {"weighing_uuid": uuid.UUID(new_weighing)}) == 1
    # back to the original dump (restores everything, nothing else changes)
    report = M.mirror(from_dumpdata(items), allow_mass_delete=True)
    assert dict(report.deleted) == {"weighing": 1} and report.updated == Counter({"session": 1})


def test_three_sources_give_identical_tables(demo, tmp_path, monkeypatch):
    root, items, _, from_dump = demo
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # ONE writes its params under ~/.one
    with AlyxServer(dump_to_rest(items)) as server:
        snap = read_rest(server.url, username=server.username, password=server.password, cache_dir=tmp_path / "one")
    assert not snap.bad
    reset()
    M.mirror(snap)
    assert_same(contents(), from_dump)
    reset()
    snap = read_one_cache(root)
    assert not snap.bad
    M.mirror(snap)
    assert_same(contents(), from_dump, ONE_CACHE_COLUMNS)
    assert os.listdir(home) == [".one"]  # ONE kept to the temporary home
