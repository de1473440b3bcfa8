"""Nothing lost: a record the source holds but cannot give keeps its mirrored row, and nothing else moves.

Every case compares ``CHECKSUM TABLE`` of every table under the module's prefix before and after.
"""

from __future__ import annotations

import copy
import json
import math
import uuid

import pytest

from iblpipe import mirror as M
from iblpipe.schemas import acquisition, reference, subject
from iblpipe.sources import ids
from iblpipe.sources.alyx_dump import from_dumpdata
from tests.alyx_fixtures import small_dump
from tests.integration.mirror_helpers import checksums, moved, reset, summary_table

TEN_MB = 10 * 1024 * 1024  # (characters) an address pasted from a binary file


@pytest.fixture(scope="module")
def summary(prefix):
    """A computed table downstream of Session: invalidation must not touch it when nothing changed."""
    with summary_table(prefix + "safetytest") as table:
        yield table


@pytest.fixture
def mirrored(summary):
    """A freshly mirrored two-lab dump with every session summarised: its items."""
    reset()
    items = small_dump(n_labs=2, n_mice=2, n_sessions=3)
    M.mirror(from_dumpdata(items))
    summary.populate()
    assert len(summary()) == len(acquisition.Session()) == 12
    return items


def _item(items, model, n=0):
    return [it for it in items if it["model"] == model][n]


def test_unreadable_records_keep_their_rows_and_nothing_moves(mirrored, prefix, tmp_path, run_cli):
    edited = copy.deepcopy(mirrored)
    bad_date = _item(edited, "actions.session", 0)
    bad_date["fields"]["start_time"] = "2024-13-04T10:00:00"
    unknown_subject = _item(edited, "actions.session", 1)
    unknown_subject["fields"]["subject"] = str(uuid.uuid4())
    no_weight = _item(edited, "actions.weighing", 2)
    del no_weight["fields"]["weight"]
    before = checksums(prefix)

    report = M.mirror(from_dumpdata(edited))

    reasons = {b.record_id: b.reason for b in report.bad}
    assert "month must be in 1..12" in reasons[bad_date["pk"]]
    assert reasons[unknown_subject["pk"]] == f"subject {unknown_subject['fields']['subject']} missing or skipped"
    assert "KeyError 'weight'" in reasons[no_weight["pk"]]
    assert not report.changed and not report.deleted and not report.invalidated
    assert report.kept == len(report.bad) and report.problems
    assert moved(before, checksums(prefix)) == set()

    # the command line: exit 1, one summary naming the records, still nothing moved
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))
    done = run_cli("--prefix", prefix, "ingest", "--source", f"dump:{path}")
    assert done.returncode == 1, done.stderr
    for pk in (bad_date["pk"], unknown_subject["pk"], no_weight["pk"]):
        assert pk in done.stdout
    assert "fix them in the source" in done.stderr and "Traceback" not in done.stderr
    assert moved(before, checksums(prefix)) == set()


def test_a_subject_gone_from_the_source_is_kept_while_its_unreadable_session_is_there(mirrored, prefix):
    mouse = _item(mirrored, "subjects.subject", 0)
    session = next(
        it for it in mirrored if it["fields"].get("subject") == mouse["pk"] and it["model"] == "actions.session"
    )
    # the mouse and every record of it leave the source, but for one session, now unreadable
    gone = {mouse["pk"]} | {it["pk"] for it in mirrored if it["fields"].get("subject") == mouse["pk"]} - {session["pk"]}
    gone |= {it["pk"] for it in mirrored if it["fields"].get("session") in gone}
    gone |= {it["pk"] for it in mirrored if it["fields"].get("probe_insertion") in gone}
    edited = [copy.deepcopy(it) for it in mirrored if it["pk"] not in gone]
    for it in edited:
        if it["pk"] == session["pk"]:
            it["fields"]["start_time"] = "not a date"
    key = {"session_uuid": uuid.UUID(session["pk"])}
    row = (acquisition.Session & key).fetch1()
    before = checksums(prefix)
    report = M.mirror(from_dumpdata(edited), allow_mass_delete=True)
    assert [(h.kind, h.record_id) for h in report.held] == [("subject", mouse["pk"])]
    assert f"session {session['pk']}" in report.held[0].reason
    assert "held 1 deletions" in report.summary() and report.problems
    assert report.deleted["session"] == 2 and "subject" not in report.deleted
    changed = moved(before, checksums(prefix))
    assert {"subject", "subject_lab", "subject_user", "lab", "lab_member"}.isdisjoint(changed)
    assert (acquisition.Session & key).fetch1() == row


def test_duplicate_primary_keys_report_both_and_keep_neither_change(mirrored, prefix):
    edited = copy.deepcopy(mirrored)
    session = _item(edited, "actions.session", 3)
    twin = copy.deepcopy(session)
    twin["fields"]["task_protocol"] = "_iblrig_tasks_ephysChoiceWorld6.4.0"
    new = {
        "model": "actions.weighing",
        "pk": str(uuid.uuid4()),
        "fields": dict(_item(edited, "actions.weighing")["fields"]),
    }
    new_twin = copy.deepcopy(new)
    new_twin["fields"]["weight"] = 30.0
    before = checksums(prefix)
    report = M.mirror(from_dumpdata([*edited, twin, new, new_twin]))
    ids_reported = [b.record_id for b in report.bad]
    assert ids_reported.count(session["pk"]) == 2 and ids_reported.count(new["pk"]) == 2
    assert all("duplicate primary key: 2 records" in b.reason for b in report.bad if b.kind in ("session", "weighing"))
    assert not report.changed and moved(before, checksums(prefix)) == set()


def test_values_the_columns_cannot_hold_skip_their_record_and_the_rest_goes_on(mirrored, prefix, summary):
    edited = copy.deepcopy(mirrored)
    lab0 = next(it for it in edited if it["model"] == "misc.lab" and it["fields"]["name"] == "lab0")
    lab0["fields"]["address"] = "x" * TEN_MB
    mouse = next(
        it for it in edited if it["model"] == "subjects.subject" and it["fields"]["lab"] == str(ids.lab_uuid("lab1"))
    )
    nan_weighing = {
        "model": "actions.weighing",
        "pk": str(uuid.uuid4()),
        "fields": {"subject": mouse["pk"], "date_time": "2024-03-20T09:00:00", "weight": math.nan},
    }
    long_protocol = next(
        it for it in edited if it["fields"].get("subject") == mouse["pk"] and it["model"] == "actions.session"
    )
    long_protocol["fields"]["task_protocol"] = "p" * 300
    good = [it for it in edited if it["fields"].get("subject") == mouse["pk"] and it["model"] == "actions.session"][1]
    good["fields"]["task_protocol"] = "_iblrig_tasks_biasedChoiceWorld6.4.0"
    before = checksums(prefix)

    report = M.mirror(from_dumpdata([*edited, nan_weighing]))

    reasons = {b.record_id: b.reason for b in report.bad}
    assert reasons["lab0"] == f"address has {TEN_MB} characters, the column holds at most 255"
    assert reasons[nan_weighing["pk"]].startswith("weight is nan")
    assert reasons[long_protocol["pk"]] == "task_protocol has 300 characters, the column holds at most 255"
    # lab0's members, mice and sessions are skipped with it (kept as mirrored), never rewritten without it
    assert reasons["user_lab0"] == "lab 'lab0' is in the source but skipped"
    assert len(reference.LabMembership & {"lab_name": "lab0"}) == 1
    assert len(reference.Lab.proj("address") & {"lab_name": "lab0", "address": ""}) == 1
    # the one good change went through, and touched only its own rows
    assert dict(report.updated) == {"session": 1} and report.invalidated == {
        "safetytest.__session_summary": 1,
        "safetytest.__session_summary__part": 1,
    }
    key = {"session_uuid": uuid.UUID(good["pk"])}
    assert (acquisition.Session & key).fetch1("task_protocol") == "_iblrig_tasks_biasedChoiceWorld6.4.0"
    changed = {"session", "__session_summary", "__session_summary__part", "mirrored_record", "ingest_run"}
    assert moved(before, checksums(prefix)) == changed | {"mirror_fence"}
    assert len(subject.Weighing & {"weighing_uuid": uuid.UUID(nan_weighing["pk"])}) == 0


def test_future_dates_warn_with_the_field_named_and_are_mirrored(mirrored):
    edited = copy.deepcopy(mirrored)
    session = _item(edited, "actions.session", 5)
    session["fields"]["start_time"] = "2099-03-04T10:00:00"
    report = M.mirror(from_dumpdata(edited))
    assert [(w.kind, w.record_id, w.reason) for w in report.warnings] == [
        ("session", session["pk"], "session_start_time 2099-03-04 10:00:00 is in the future")
    ]
    assert dict(report.updated) == {"session": 1} and not report.bad
    assert "1 warnings (mirrored anyway)" in report.summary()


def test_nightly_reports_bad_records_after_populating(mirrored, prefix, tmp_path, run_cli):
    edited = copy.deepcopy(mirrored)
    bad = _item(edited, "actions.session", 4)
    bad["fields"]["start_time"] = "2024-03-32T10:00:00"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))
    before = checksums(prefix)
    done = run_cli(
        "--prefix", prefix, "nightly", "--source", f"dump:{path}", "--skip-plot", "--tables", "behavior.LearningCurve",
        env={"IBLPIPE_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert bad["pk"] in done.stdout and "day is out of range for month" in done.stdout
    assert "populate done: 0 made, ok" in done.stderr  # the night went on
    # only DataJoint's hidden tables moved: the jobs table (and its lineage) the populate created
    assert {t for t in moved(before, checksums(prefix)) if not t.startswith("~")} == set()
