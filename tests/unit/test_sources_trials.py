"""Trials from the table file or per-attribute files, from the task collection: equal to SessionLoader (issue 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iblpipe.errors import DataError
from iblpipe.sources import locate
from iblpipe.sources.trials import load_session_trials
from tests.behavior_lab import make_trials

PASSIVE = "passiveChoiceWorld"
ACTIVE = "_iblrig_tasks_trainingChoiceWorld8.27.0"


def _table_style(folder: Path, trials: dict) -> None:
    """IBL's current layout: _ibl_trials.table.pqt plus intervals (and an itiDuration of another length)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = {k: v for k, v in trials.items() if k != "intervals"}
    pd.DataFrame(table).to_parquet(folder / "_ibl_trials.table.pqt", index=False)
    np.save(folder / "_ibl_trials.intervals.npy", trials["intervals"])
    np.save(folder / "_ibl_trials.itiDuration.npy", np.zeros(3))


def _attribute_style(folder: Path, trials: dict) -> None:
    """The older layout: one _ibl_trials.<attribute>.npy per attribute."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in trials.items():
        np.save(folder / f"_ibl_trials.{name}.npy", values)


def _describe(session: Path, tasks: list[tuple[str, int | None]]) -> None:
    from ibllib.io import session_params

    entries = []
    for i, (protocol, number) in enumerate(tasks):
        spec = {"collection": f"raw_task_data_{i:02d}", "sync_label": "bpod"}
        if number is not None:
            spec["protocol_number"] = number
        entries.append({protocol: spec})
    session_params.write_params(session, {"version": "1.0.0", "tasks": entries})


def _session_loader(root: Path, session: Path, collection: str | None):
    """IBL's SessionLoader on ``root`` opened as a local ONE cache; its trials frame."""
    from brainbox.io.one import SessionLoader
    from one.alf.cache import make_parquet_db
    from one.api import One

    make_parquet_db(root)
    one = One(cache_dir=root, mode="local")
    loader = SessionLoader(one=one, eid=one.to_eid(session))
    loader.load_trials(collection=collection)
    return loader.trials


def _assert_equal(ours: dict, theirs: pd.DataFrame) -> None:
    assert np.array_equal(ours["intervals"][:, 0], theirs["intervals_0"])
    assert np.array_equal(ours["intervals"][:, 1], theirs["intervals_1"])
    columns = [c for c in theirs.columns if not c.startswith("intervals")]
    assert set(columns) == set(ours) - {"intervals"}
    for column in columns:
        assert np.array_equal(np.asarray(ours[column], float), theirs[column].to_numpy(float), equal_nan=True), column


@pytest.mark.parametrize("style", [_table_style, _attribute_style], ids=["table", "attributes"])
def test_single_task_equals_session_loader(tmp_path, style):
    session = locate.session_folder(tmp_path, "lab", "TR001", "2024-03-01", 1)
    trials = make_trials(1, 120)
    style(session / "alf", trials)
    ours, where = load_session_trials(session)
    assert where == f"{session / 'alf'}/_ibl_trials"
    _assert_equal(ours, _session_loader(tmp_path, session, None))
    assert np.array_equal(ours["choice"], trials["choice"])


def test_chained_protocol_reads_the_active_task_latest_revision(tmp_path):
    session = locate.session_folder(tmp_path, "lab", "TR001", "2024-03-02", 1)
    _describe(session, [(PASSIVE, 0), (ACTIVE, 1)])
    _attribute_style(session / "alf/task_00", make_trials(2, 40))  # not trials for the training status
    _table_style(session / "alf/task_01", make_trials(3, 150))
    rerun = make_trials(4, 160)
    _table_style(session / "alf/task_01/#2025-01-02#", rerun)
    ours, where = load_session_trials(session)
    assert where == f"{session / 'alf/task_01'}/_ibl_trials (revision 2025-01-02)"
    assert np.array_equal(ours["choice"], rerun["choice"])
    # SessionLoader needs the collection when several hold trials; ibllib takes it from the description
    _assert_equal(ours, _session_loader(tmp_path, session, "alf/task_01"))


def test_passive_only_session_has_no_trials(tmp_path):
    session = locate.session_folder(tmp_path, "lab", "TR001", "2024-03-03", 1)
    _describe(session, [(PASSIVE, None)])
    _attribute_style(session / "alf", make_trials(5, 30))
    with pytest.raises(DataError, match=r"alf/_ibl_trials\.\*: trials object not found \(no active task"):
        load_session_trials(session)


def test_iblrig7_description_reads_alf(tmp_path):
    """ibllib's own fixture: passiveChoiceWorld in raw_passive_data, ephysChoiceWorld in raw_behavior_data."""
    import shutil

    import ibllib

    session = locate.session_folder(tmp_path, "lab", "TR001", "2024-03-04", 1)
    session.mkdir(parents=True)
    fixture = Path(ibllib.__file__).parent / "tests/fixtures/io/_ibl_experiment.description.yaml"
    shutil.copy(fixture, session / locate.EXPERIMENT_DESCRIPTION)
    trials = make_trials(6, 50)
    _table_style(session / "alf", trials)
    ours, _ = load_session_trials(session)
    assert np.array_equal(ours["contrastLeft"], trials["contrastLeft"], equal_nan=True)


def _v8_settings(rig: str, delay: float, number: int) -> dict:
    """The keys iblrig v8 writes that ibllib reads (load_settings patches v8 files from these)."""
    return {
        "IBLRIG_VERSION": "8.27.0",
        "PYBPOD_PROTOCOL": "_iblrig_tasks_trainingChoiceWorld",
        "RIG_NAME": rig,
        "SESSION_NUMBER": number,
        "ALYX_USER": "demo",
        "SESSION_START_TIME": "2024-03-05T09:00:00.000000",
        "SESSION_END_TIME": "2024-03-05T10:00:00.000000",
        "SESSION_DELAY_START": delay,
        "device_sound": {"OUTPUT": "harp"},
        "SUBJECT_NAME": "TR001",
    }


def test_v8_chained_settings_and_collections_equal_ibllib(tmp_path):
    import json

    from ibllib.pipes.training_status import compute_session_duration_delay_location, get_data_collection

    from iblpipe.sources.trials import task_settings

    session = locate.session_folder(tmp_path, "lab", "TR001", "2024-03-05", 1)
    _describe(session, [(PASSIVE, None), (ACTIVE, None)])
    for i, (rig, delay) in enumerate((("_iblrig_lab_ephys_0", 300.0), ("_iblrig_lab_ephys_0", 900.0))):
        raw = session / f"raw_task_data_{i:02d}"
        raw.mkdir(parents=True)
        (raw / "_iblrig_taskSettings.raw.json").write_text(json.dumps(_v8_settings(rig, delay, 1)))
    _table_style(session / "alf/task_00", make_trials(7, 20))
    _table_style(session / "alf/task_01", make_trials(8, 60))
    raw_collections, alf_collections = get_data_collection(session)
    chosen = [(t.raw_collection, t.collection) for t in locate.tasks(session) if locate.is_choice_task(t)]
    assert chosen == list(zip(raw_collections, alf_collections, strict=True)) == [("raw_task_data_01", "alf/task_01")]
    rig, delay = task_settings(session)
    _, their_delay, location = compute_session_duration_delay_location(session, collections=raw_collections)
    assert (rig, delay) == ("_iblrig_lab_ephys_0", 900.0) and delay == their_delay and location == "ephys_rig"
    assert len(load_session_trials(session)[0]["choice"]) == 60


def test_legacy_settings_without_description(tmp_path):
    import json

    from iblpipe.sources.trials import task_settings

    session = locate.session_folder(tmp_path, "lab", "TR001", "2024-03-06", 1)
    assert task_settings(session) == (None, None)
    raw = session / "raw_behavior_data"
    raw.mkdir(parents=True)
    legacy = {"IBLRIG_VERSION": "6.6.2", "PYBPOD_BOARD": "_iblrig_lab_behavior_1", "SESSION_START_DELAY_SEC": 42}
    (raw / "_iblrig_taskSettings.raw.json").write_text(json.dumps(legacy))
    assert task_settings(session) == ("_iblrig_lab_behavior_1", 42.0)


# chained iblrig 8 sessions (task names, in order); the last is passive only
CHAINS = [
    ("passiveChoiceWorld", "ephysChoiceWorld"),
    ("passiveChoiceWorld", "trainingChoiceWorld"),
    ("ephysChoiceWorld", "passiveChoiceWorld"),
    ("trainingChoiceWorld", "biasedChoiceWorld"),
    ("habituationChoiceWorld", "trainingChoiceWorld"),
    ("biasedChoiceWorld", "ephysChoiceWorld"),
    ("passiveChoiceWorld", "spontaneous"),
    ("passiveChoiceWorld",),
]


def _ibllib_kind(session: Path) -> str | None:
    """The protocol kind ``training_status.get_training_information`` keeps for a session; None: it skips it.

    Its own steps: the choice-world raw collections, each task's extractor class from its settings,
    then a loop over ``np.unique`` of the kinds that keeps the last one's session summary.
    """
    from ibllib.io.extractors.base import get_bpod_extractor_class
    from ibllib.pipes.training_status import get_data_collection

    raw, _ = get_data_collection(session)
    kinds = np.unique([get_bpod_extractor_class(session, task_collection=c)[:-6].lower() for c in raw])
    return str(kinds[-1]) if len(kinds) else None


@pytest.mark.parametrize("chain", CHAINS, ids="+".join)
def test_chained_protocol_kind_equals_ibllib(tmp_path, chain):
    """Our kind from Alyx's joined task_protocol equals ibllib's from the tasks' own settings files."""
    import json

    from iblpipe.compute import training as tr

    session = locate.session_folder(tmp_path, "lab", "TR001", "2024-03-07", 1)
    protocols = [f"_iblrig_tasks_{name}8.27.0" for name in chain]
    _describe(session, [(p, None) for p in protocols])
    for i, name in enumerate(chain):
        raw = session / f"raw_task_data_{i:02d}"
        raw.mkdir(parents=True)
        settings = dict(_v8_settings("_iblrig_lab_ephys_0", 0.0, 1), PYBPOD_PROTOCOL=f"_iblrig_tasks_{name}")
        (raw / "_iblrig_taskSettings.raw.json").write_text(json.dumps(settings))
    alyx = tr.CHAIN_SEPARATOR.join(protocols)  # Alyx's task_protocol of the session
    theirs = _ibllib_kind(session)
    if theirs is None:  # no choice-world task: ibllib skips the session, and so does TrialSet when passive only
        assert tr.choice_protocols(alyx) == ()
        assert tr.is_passive_only(alyx) == all("passive" in name for name in chain)
        with pytest.raises(DataError, match="names no choice-world task"):
            tr.protocol_kind(alyx)
    else:
        assert not tr.is_passive_only(alyx)
        assert tr.protocol_kind(alyx) == theirs
