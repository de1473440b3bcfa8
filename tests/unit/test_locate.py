"""The ALF locator against IBL's own loaders on small trees built here (issue 14)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from brainbox.io.one import SpikeSortingLoader

from iblpipe.errors import DataError
from iblpipe.sources import locate

SORTING_FILES = ("spikes.times.npy", "spikes.clusters.npy", "clusters.channels.npy")


def _session(root: Path, number: int = 1) -> Path:
    return locate.session_folder(root, "lab", "SW001", "2024-05-06", number)


def _write(folder: Path, names=SORTING_FILES, value: float = 0.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        np.save(folder / name, np.array([value, value + 1]))


# collections (with an optional revision) written per probe, and the sorter a test requests
TREES = {
    "flat": ["alf/probe00"],
    "pykilosort_over_flat": ["alf/probe00", "alf/probe00/pykilosort"],
    "iblsorter_over_pykilosort": ["alf/probe00/pykilosort", "alf/probe00/iblsorter", "alf/probe00"],
    "custom_shortest": ["alf/probe00/zz_custom", "alf/probe00/ks"],
    "revisions": [
        "alf/probe00/pykilosort",
        "alf/probe00/pykilosort/#2024-05-06#",
        "alf/probe00/pykilosort/#2024-07-01#",
    ],
    "other_probe_ignored": ["alf/probe01/iblsorter", "alf/probe00/pykilosort"],
}


def _loader(root: Path, session: Path, probe: str = "probe00") -> SpikeSortingLoader:
    """IBL's loader on ``root`` opened as a local ONE cache (built from the files, as ONE does)."""
    from one.alf.cache import make_parquet_db
    from one.api import One

    make_parquet_db(root)
    one = One(cache_dir=root, mode="local")
    # atlas: any non-None value, so the loader does not build (download) an Allen atlas
    return SpikeSortingLoader(one=one, eid=one.to_eid(session), pname=probe, atlas=object())


@pytest.mark.parametrize("tree", sorted(TREES))
@pytest.mark.parametrize("sorter", [None, "pykilosort", "", "ks"])
def test_collection_and_revision_equal_spike_sorting_loader(tmp_path, tree, sorter):
    session = _session(tmp_path)
    for i, collection in enumerate(TREES[tree]):
        _write(session / collection, value=float(i))
    ours = locate.spike_sorting(session, "probe00", sorter=sorter)
    ssl = _loader(tmp_path, session)
    theirs = ssl._get_spike_sorting_collection(spike_sorter=sorter)
    assert ours.collection == theirs
    ssl.download_spike_sorting_object("spikes", spike_sorter=sorter, collection=theirs)
    revisions = {Path(f).parent.name.strip("#") if "#" in str(f) else "" for f in ssl.files["spikes"]}
    assert revisions == {ours.revision}
    assert sorted(Path(f).name for f in ours.files("spikes")) == sorted(Path(f).name for f in ssl.files["spikes"])
    assert {str(f) for f in ours.files("spikes")} == {str(Path(f)) for f in ssl.files["spikes"]}


def test_latest_revision_and_pinned_revision(tmp_path):
    session = _session(tmp_path)
    _write(session / "alf/probe00/iblsorter")
    _write(session / "alf/probe00/iblsorter/#2024-05-06#", value=5)
    _write(session / "alf/probe00/iblsorter/#2024-07-01#", names=("spikes.times.npy",), value=7)
    latest = locate.spike_sorting(session, "probe00")
    assert (latest.collection, latest.sorter, latest.revision) == ("alf/probe00/iblsorter", "iblsorter", "2024-07-01")
    # each dataset from its own latest revision (as ONE does): spikes.clusters only exists up to 2024-05-06
    by_name = {f.name: f.parent.name for f in latest.files("spikes")}
    assert by_name == {"spikes.times.npy": "#2024-07-01#", "spikes.clusters.npy": "#2024-05-06#"}
    pinned = locate.spike_sorting(session, "probe00", revision="2024-06-30")
    assert pinned.revision == "2024-05-06"
    assert np.load(next(f for f in pinned.files("spikes") if f.name == "spikes.times.npy"))[0] == 5
    assert locate.spike_sorting(session, "probe00", revision="2024-01-01").revision == ""


def test_no_sorting_names_the_folder(tmp_path):
    session = _session(tmp_path)
    (session / "alf/probe00/pykilosort").mkdir(parents=True)
    with pytest.raises(DataError, match=r"alf/probe00: no spikes"):
        locate.spike_sorting(session, "probe00")
    with pytest.raises(DataError, match=r"probe07"):
        locate.spike_sorting(session, "probe07")


def test_custom_sorters_without_rule_log_the_choice(tmp_path, caplog):
    session = _session(tmp_path)
    _write(session / "alf/probe00/mysorter_v2")
    _write(session / "alf/probe00/ks")
    with caplog.at_level(logging.INFO, logger="iblpipe.sources.locate"):
        chosen = locate.spike_sorting(session, "probe00")
    assert chosen.collection == "alf/probe00/ks"
    assert [r.getMessage() for r in caplog.records if "none preferred" in r.getMessage()] == [
        f"{session}: sortings ['alf/probe00/ks', 'alf/probe00/mysorter_v2'], none preferred; reading the shortest, "
        "alf/probe00/ks"
    ]


def test_custom_sorter_choice_is_logged_once_per_process_until_it_changes(tmp_path, caplog):
    """The check for new revisions locates every insertion on every populate pass: one INFO line, not one a pass."""
    session = _session(tmp_path)
    _write(session / "alf/probe00/mysorter_v2")
    _write(session / "alf/probe00/ks")
    with caplog.at_level(logging.DEBUG, logger="iblpipe.sources.locate"):
        for _ in range(3):  # the import, then two passes of follow_new_sortings
            assert locate.spike_sorting(session, "probe00").collection == "alf/probe00/ks"
        _write(session / "alf/probe00/k")  # a new sorting: the choice changes, and is told
        assert locate.spike_sorting(session, "probe00").collection == "alf/probe00/k"
        locate.spike_sorting(session, "probe00")
    told = [r for r in caplog.records if "none preferred" in r.getMessage()]
    assert [(r.levelno, r.getMessage().rsplit(", ", 1)[1]) for r in told] == [
        (logging.INFO, "alf/probe00/ks"),
        (logging.INFO, "alf/probe00/k"),
    ]
    quiet = [r for r in caplog.records if r.levelno == logging.DEBUG and "reading alf/probe00/" in r.getMessage()]
    assert len(quiet) == 3  # the repeats stay at DEBUG


def test_tasks_from_ibllib_description_fixture(tmp_path):
    import shutil

    import ibllib
    from ibllib.io import session_params

    fixture = Path(ibllib.__file__).parent / "tests/fixtures/io/_ibl_experiment.description.yaml"
    session = _session(tmp_path)
    session.mkdir(parents=True)
    shutil.copy(fixture, session / locate.EXPERIMENT_DESCRIPTION)
    got = locate.tasks(session)
    params = session_params.read_params(session)
    assert [t.protocol for t in got] == ["passiveChoiceWorld", "ephysChoiceWorld"]
    assert [t.raw_collection for t in got] == [session_params.get_task_collection(params, t.protocol) for t in got]
    assert {t.collection for t in got} == {"alf"}  # no protocol_number: ibllib writes to alf
    assert [locate.is_passive(t.protocol) for t in got] == [True, False]


def test_chained_protocol_trials_collections(tmp_path):
    from ibllib.io import session_params

    session = _session(tmp_path)
    description = {
        "version": "1.0.0",
        "tasks": [
            {"passiveChoiceWorld": {"collection": "raw_task_data_00", "sync_label": "bpod", "protocol_number": 0}},
            {"_iblrig_tasks_trainingChoiceWorld8.27.0": {"collection": "raw_task_data_01", "protocol_number": 1}},
        ],
    }
    session_params.write_params(session, description)
    _write(session / "alf/task_00", names=("_ibl_trials.intervals.npy",))
    _write(session / "alf/task_01", names=("_ibl_trials.stimOn_times.npy",))
    _write(session / "alf/task_01/#2025-01-02#", names=("_ibl_trials.stimOn_times.npy",))
    got = locate.tasks(session)
    assert [(t.collection, t.raw_collection) for t in got] == [
        ("alf/task_00", "raw_task_data_00"),
        ("alf/task_01", "raw_task_data_01"),
    ]
    found = locate.trials(session)
    assert [(t.protocol, loc.collection, loc.revision) for t, loc in found] == [
        ("_iblrig_tasks_trainingChoiceWorld8.27.0", "alf/task_01", "2025-01-02"),
        ("passiveChoiceWorld", "alf/task_00", ""),
    ]


def test_trials_without_description_read_alf(tmp_path):
    session = _session(tmp_path)
    (session / "alf").mkdir(parents=True)
    pd.DataFrame({"stimOn_times": [1.0, 2.0]}).to_parquet(session / "alf/_ibl_trials.table.pqt")
    assert [(task, loc.collection) for task, loc in locate.trials(session)] == [(None, "alf")]
    assert [f.name for f in locate.trials(session)[0][1].files("trials")] == ["_ibl_trials.table.pqt"]
