"""Mirroring Alyx metadata: inserts, in-place updates, deletions, invalidation, safety, three sources."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import uuid

import datajoint as dj
import pytest

from iblpipe import mirror as M
from iblpipe.schemas import acquisition, ephys, reference, subject
from iblpipe.sources import ids
from iblpipe.sources.alyx_dump import MODEL_KINDS, from_dumpdata
from tests.alyx_fixtures import small_dump
from tests.integration.mirror_helpers import reset, session_summary

TABLES = {
    "lab": reference.Lab,
    "subject": subject.Subject,
    "session": acquisition.Session,
    "weighing": subject.Weighing,
    "water_administration": subject.WaterAdministration,
    "water_restriction": subject.WaterRestriction,
    "insertion": ephys.ProbeInsertion,
    "trajectory": ephys.ProbeTrajectory,
}
MODELS = {kind: MODEL_KINDS[kind] for kind in TABLES}


def counts_by_model(items):
    out = {}
    for it in items:
        out[it["model"]] = out.get(it["model"], 0) + 1
    return out


@pytest.fixture(scope="module")
def schema(prefix):
    """A computed table downstream of Session and one downstream of ProbeInsertion, to watch invalidation."""
    test_schema, SessionSummary = session_summary(prefix + "mirrortest", {"ephys": ephys})

    @test_schema
    class InsertionSummary(dj.Computed):
        definition = """
        # a computed row per insertion
        -> ephys.ProbeInsertion
        ---
        n_trajectories : int32   # (count) trajectories
        """

        def make(self, key):
            self.insert1(dict(key, n_trajectories=len(ephys.ProbeTrajectory & key)))

    yield SessionSummary, InsertionSummary
    test_schema.drop(prompt=False)


def test_dump_mirror_counts_rerun_updates_deletes_and_invalidation(schema):
    summary, insertion_summary = schema
    reset()
    items = small_dump()
    report = M.mirror(from_dumpdata(items))
    n = counts_by_model(items)
    for kind, model in MODELS.items():
        assert len(TABLES[kind]()) == n[model], kind
        assert report.inserted[kind] == n[model]
    assert len(acquisition.Session.User()) == n["actions.session"]
    assert len(ephys.ProbeTrajectory & {"is_best": 1}) == n["experiments.probeinsertion"]
    assert set((ephys.ProbeTrajectory & {"is_best": 1}).to_arrays("provenance")) == {"Ephys aligned histology track"}
    # the documented join for nickname queries
    nick = "LAB0_001"
    assert len(subject.Subject * acquisition.Session & {"subject_nickname": nick}) == 4

    again = M.mirror(from_dumpdata(items))
    assert not again.changed and again.unchanged == len(items) - counts_by_model(items)["misc.labmembership"]

    summary.populate()
    insertion_summary.populate()
    n_summary = len(summary())
    # edit: one session changed, one subject deleted (with its records), one weighing added
    edited = copy.deepcopy(items)
    changed = next(it for it in edited if it["model"] == "actions.session")
    changed["fields"]["task_protocol"] = "_iblrig_tasks_biasedChoiceWorld6.4.0"
    gone_subject = ids.subject_uuid("lab1", "LAB1_002")
    edited = [it for it in edited if str(gone_subject) not in (it["pk"], it["fields"].get("subject"))]
    new_weighing = str(uuid.uuid4())
    edited.append(
        {
            "model": "actions.weighing",
            "pk": new_weighing,
            "fields": {"subject": changed["fields"]["subject"], "date_time": "2024-03-09T09:00:00", "weight": 23.0},
        }
    )
    other_key = {
        "session_uuid": uuid.UUID(
            next(it["pk"] for it in edited if it["model"] == "actions.session" and it is not changed)
        )
    }
    before_other = (summary & other_key).fetch1()
    report = M.mirror(from_dumpdata(edited))
    assert dict(report.updated) == {"session": 1}
    assert dict(report.inserted) == {"weighing": 1}
    n_gone_sessions = 4
    assert report.deleted["subject"] == 1 and report.deleted["session"] == n_gone_sessions
    assert report.deleted["weighing"] == n_gone_sessions and report.deleted["water_restriction"] == 1
    session_key = {"session_uuid": uuid.UUID(changed["pk"])}
    assert (acquisition.Session & session_key).fetch1("task_protocol").startswith("_iblrig_tasks_biased")
    assert len(acquisition.Session.User & session_key) == 1  # parts rewritten, not lost
    # exactly the changed session's computed rows and the deleted subject's were invalidated
    assert not (summary & session_key) and not (summary.Part & session_key)
    assert len(summary()) == n_summary - 1 - n_gone_sessions
    assert (summary & other_key).fetch1() == before_other
    assert report.invalidated == {
        "mirrortest.__session_summary": 1 + n_gone_sessions,
        "mirrortest.__session_summary__part": 1 + n_gone_sessions,
    }
    assert len(insertion_summary()) == 2  # the insertions belong to unchanged sessions
    assert len(subject.Weighing & {"weighing_uuid": uuid.UUID(new_weighing)}) == 1
    assert not (subject.Subject & {"subject_uuid": gone_subject})
    # populate recomputes the invalidated row with the new protocol
    summary.populate()
    assert (summary & session_key).fetch1("protocol_length") == len("_iblrig_tasks_biasedChoiceWorld6.4.0")


def test_changed_subject_invalidates_its_sessions_computed_rows_and_logs_them(schema, caplog):
    summary, _ = schema
    reset()
    items = small_dump()
    M.mirror(from_dumpdata(items))
    summary.populate()
    n_summary = len(summary())
    edited = copy.deepcopy(items)
    mouse = next(it for it in edited if it["model"] == "subjects.subject")
    mouse["fields"]["birth_date"] = "2023-12-01"
    key = {"subject_uuid": uuid.UUID(mouse["pk"])}
    n_sessions = len(acquisition.Session & key)
    others = (summary - (acquisition.Session & key).proj()).to_pandas()
    with caplog.at_level(logging.INFO, logger="iblpipe.mirror"):
        report = M.mirror(from_dumpdata(edited))
    assert dict(report.updated) == {"subject": 1} and not report.inserted and not report.deleted
    assert report.invalidated == {
        "mirrortest.__session_summary": n_sessions,
        "mirrortest.__session_summary__part": n_sessions,
    }
    assert str((subject.Subject & key).fetch1("subject_birth_date")) == "2023-12-01"
    assert len(acquisition.Session & key) == n_sessions  # metadata (manual) rows stay
    assert len(summary()) == n_summary - n_sessions
    assert summary.to_pandas().equals(others)
    logged = [r.getMessage() for r in caplog.records if r.name == "iblpipe.mirror"]
    assert any(f"invalidated {n_sessions} rows of mirrortest.__session_summary " in m for m in logged), logged
    summary.populate()
    assert len(summary()) == n_summary


def test_empty_source_is_refused(schema):
    reset()
    items = small_dump()
    M.mirror(from_dumpdata(items))
    with pytest.raises(M.MassDeleteRefused, match=r"subject: 6 of 6 \(100 percent.*session: 24 of 24"):
        M.mirror(from_dumpdata([]))
    assert len(subject.Subject()) == 6 and len(acquisition.Session()) == 24
    assert M.mirror(from_dumpdata(items)).changed is False


def test_mass_delete_refused_and_failed_run_changes_nothing(schema):
    reset()
    items = small_dump()
    M.mirror(from_dumpdata(items))
    gone = {
        it["pk"]
        for it in items
        if it["model"] == "actions.session" and it["fields"]["lab"] == str(ids.lab_uuid("lab1"))
    }
    gone |= {it["pk"] for it in items if it["fields"].get("session") in gone}  # as Alyx: their insertions go too
    gone |= {it["pk"] for it in items if it["fields"].get("probe_insertion") in gone}
    half = [it for it in items if it["pk"] not in gone]
    with pytest.raises(M.MassDeleteRefused, match="session: 12 of 24"):
        M.mirror(from_dumpdata(half))
    assert len(acquisition.Session()) == 24
    # every subject gone but their sessions still there: nothing to delete, every subject deletion held
    no_subjects = M.mirror(from_dumpdata([it for it in items if it["model"] != "subjects.subject"]))
    assert not no_subjects.changed and {h.kind for h in no_subjects.held} == {"subject"} and len(no_subjects.held) == 6
    assert len(subject.Subject()) == 6 and len(acquisition.Session()) == 24
    # a database error half-way (a weighing referencing a subject the mirror lacks, forced past the checks:
    # a snapshot that does not provide subjects cannot check the weighings' references)
    snap = from_dumpdata(items)
    snap.provides = snap.provides - {"subject"}
    bad = copy.deepcopy(snap.records["weighing"][0])
    snap.records["weighing"].append(dataclasses.replace(bad, weighing_uuid=uuid.uuid4(), subject_uuid=uuid.uuid4()))
    snap.records["session"][0] = dataclasses.replace(snap.records["session"][0], task_protocol="changed")
    before = acquisition.Session.to_pandas()
    with pytest.raises(dj.errors.IntegrityError):
        M.mirror(snap)
    assert acquisition.Session.to_pandas().equals(before)
    assert M.mirror(from_dumpdata(items)).changed is False
    report = M.mirror(from_dumpdata(half), allow_mass_delete=True)
    assert report.deleted["session"] == 12


def test_bad_records_are_reported_and_skipped(schema):
    reset()
    items = small_dump(n_labs=1, n_mice=2, n_sessions=2)
    bad_session = {
        "model": "actions.session",
        "pk": str(uuid.uuid4()),
        "fields": {
            "subject": str(uuid.uuid4()),
            "lab": str(ids.lab_uuid("lab0")),
            "start_time": "2024-01-01T10:00:00",
            "number": 1,
        },
    }
    bad_date = copy.deepcopy(next(it for it in items if it["model"] == "actions.weighing"))
    bad_date["pk"], bad_date["fields"]["date_time"] = str(uuid.uuid4()), "not a date"
    dup = copy.deepcopy(next(it for it in items if it["model"] == "subjects.subject"))
    dup["pk"] = "ffffffff-0000-0000-0000-000000000000"
    report = M.mirror(from_dumpdata([*items, bad_session, bad_date, dup]))
    bad = {(b.kind, b.record_id) for b in report.bad}
    assert bad == {("session", bad_session["pk"]), ("weighing", bad_date["pk"]), ("subject", dup["pk"])}
    assert len(subject.Subject()) == 2 and len(acquisition.Session()) == 4
    assert bad_session["pk"] in report.summary()


def test_dump_json_roundtrip(tmp_path):
    from iblpipe.sources.alyx_dump import read_dump

    path = tmp_path / "alyx.json"
    path.write_text(json.dumps(small_dump()))
    assert len(read_dump(path).records["session"]) == 24
