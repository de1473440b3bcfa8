"""A passive-only session is not a TrialSet key (ibllib's training status skips it); a chained one is."""

from __future__ import annotations

import datetime as dt
import json
import logging

import numpy as np
import yaml

from iblpipe.demo import rig
from iblpipe.schemas import acquisition, behavior, reference, subject
from iblpipe.sources import ids
from iblpipe.sources.alf import session_path
from tests.behavior_lab import PROTOCOLS, make_trials, write_trials

LAB = "passivelab"
NICK = "PAS001"
# (date, number, Alyx task_protocol)
TRAINING = ("2024-05-06", 1, PROTOCOLS["training"])
PASSIVE = ("2024-05-07", 1, rig.PASSIVE_V8)
CHAINED = ("2024-05-07", 2, rig.CHAINED_PROTOCOL)


def _key(date: str, number: int) -> dict:
    return {"session_uuid": ids.session_uuid(LAB, NICK, date, number)}


def _register(date: str, number: int, protocol: str) -> None:
    acquisition.Session.insert1(
        dict(
            _key(date, number),
            subject_uuid=ids.subject_uuid(LAB, NICK),
            session_lab=LAB,
            session_start_time=dt.datetime.fromisoformat(date) + dt.timedelta(hours=9 + number),
            session_number=number,
            task_protocol=protocol,
        )
    )


def _settings(protocol: str, number: int) -> dict:
    start, end = "2024-05-07T09:00:00.000000", "2024-05-07T10:00:00.000000"
    return rig.v8_settings(protocol, "_iblrig_lab_ephys_0", number, "demo", NICK, start, end, 0.0)


def _lab(root) -> dict:
    """One mouse: a training session, a passive-only iblrig 8 session and a passive + ephys chained one."""
    reference.Lab.insert1({"lab_name": LAB})
    subject.Subject.insert1({"subject_uuid": ids.subject_uuid(LAB, NICK), "subject_nickname": NICK})
    subject.SubjectLab.insert1({"subject_uuid": ids.subject_uuid(LAB, NICK), "lab_name": LAB})
    folders = {}
    for date, number, protocol in (TRAINING, PASSIVE, CHAINED):
        _register(date, number, protocol)
        folders[(date, number)] = session_path(root, LAB, NICK, date, number)
    write_trials(folders[TRAINING[:2]], make_trials(1, 300))
    passive = folders[PASSIVE[:2]]
    passive.mkdir(parents=True)
    tasks = [{rig.PASSIVE_V8: {"collection": "raw_task_data_00", "sync_label": "bpod", "protocol_number": 0}}]
    (passive / "_ibl_experiment.description.yaml").write_text(yaml.safe_dump({"version": "1.0.0", "tasks": tasks}))
    settings = passive / "raw_task_data_00" / rig.SETTINGS
    settings.parent.mkdir()
    settings.write_text(json.dumps(_settings(rig.PASSIVE_V8, 1)))
    chained = make_trials(2, 400, biased=True)
    chained_settings = (_settings(rig.PASSIVE_V8, 2), _settings(rig.EPHYS_V8, 2))
    rig.write_chained_session(folders[CHAINED[:2]], chained, chained_settings)
    return {"folders": folders, "chained": chained}


def test_passive_only_session_is_skipped_not_an_error(prefix, tmp_path, set_data_root, caplog):
    from ibllib.pipes.training_status import get_data_collection

    set_data_root(tmp_path)
    lab = _lab(tmp_path)
    assert get_data_collection(lab["folders"][PASSIVE[:2]]) == ([], [])  # ibllib: no task for the status
    # the error row an earlier version left for the passive session (a job row, then marked failed)
    behavior.TrialSet.jobs.ignore(_key(*PASSIVE[:2]))
    behavior.TrialSet.jobs.error(_key(*PASSIVE[:2]), "DataError: trials object not found (no active task)")
    assert len(behavior.TrialSet.jobs.errors) == 1
    with caplog.at_level(logging.INFO, logger="iblpipe.schemas.behavior.sessions"):
        result = behavior.TrialSet.populate(reserve_jobs=True, suppress_errors=True, display_progress=False)
        assert len(behavior.TrialSet.key_source) == 2  # a second look logs nothing new
    assert result["success_count"] == 2 and result["error_list"] == []
    assert len(behavior.TrialSet.jobs.errors) == 0  # the worker's refresh dropped the key that left key_source
    stored = {str(u) for u in behavior.TrialSet.to_arrays("session_uuid")}
    assert stored == {str(_key(*TRAINING[:2])["session_uuid"]), str(_key(*CHAINED[:2])["session_uuid"])}
    assert len(behavior.TrialSet.key_source & _key(*PASSIVE[:2])) == 0
    told = [r.getMessage() for r in caplog.records if "passive only" in r.getMessage()]
    assert told == [
        f"session {_key(*PASSIVE[:2])['session_uuid']}: task_protocol {rig.PASSIVE_V8} is passive only: "
        "no trials to import (skipped)"
    ]
    # the chained session's trials are those of its ephys task (alf/task_01), as ibllib reads them
    chained = (behavior.Trials & _key(*CHAINED[:2])).to_pandas(order_by="trial_id")
    assert np.array_equal(chained["choice"].astype(float), lab["chained"]["choice"])
    assert (behavior.TrialSet & _key(*CHAINED[:2])).fetch1("rig_name") == "_iblrig_lab_ephys_0"
