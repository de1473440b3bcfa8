"""The locator in a ONE cache follows ``datasets.pqt`` as ``One(mode='local')`` does (issue 14).

Each cache here disagrees with its disk: a sorter folder and a trials file on disk that the table
does not list, a newer revision on disk that is not the default one, a QC-CRITICAL dataset, a
listed sorting absent from disk. IBL's loaders on the same cache are the oracle.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import one
import pandas as pd
import pytest
from brainbox.io.one import SessionLoader, SpikeSortingLoader
from iblutil.io import parquet
from one.alf.exceptions import ALFObjectNotFound

from iblpipe.errors import DataError
from iblpipe.sources import locate
from iblpipe.sources.ephys import SPIKE_ATTRIBUTES
from iblpipe.sources.trials import load_session_trials

FIXTURES = Path(one.__file__).parent / "tests" / "fixtures"  # ONE's own 1.x cache: integer id_0/id_1
SORTING = ("spikes.times.npy", "spikes.clusters.npy", "spikes.amps.npy", "clusters.channels.npy")
IBL_DEFAULT = "iblsorter"  # SpikeSortingLoader.load_spike_sorting's default request
OLD, NEW = "2024-05-06", "2024-07-01"  # revisions: OLD is the default, NEW is on disk but not the default


def _write(folder: Path, names, value: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name.endswith(".pqt"):
            pd.DataFrame({"stimOn_times": [value, value + 1]}).to_parquet(folder / name)
        else:
            np.save(folder / name, np.array([value, value + 1]))


def _edit_cache(root: Path, edit) -> None:
    """Rewrite ``datasets.pqt`` through ``edit(frame)`` keeping ONE's metadata (as ONE's own writer does)."""
    frame, meta = parquet.load(root / "datasets.pqt")
    parquet.save(root / "datasets.pqt", edit(frame), meta)


@pytest.fixture
def cache(tmp_path) -> tuple[Path, Path]:
    """A ONE 3.x cache (uuid eids, default_revision, qc) that disagrees with its disk."""
    from one.alf.cache import make_parquet_db

    session = locate.session_folder(tmp_path, "lab", "SW001", "2024-05-06", 1)
    _write(session / "alf/probe00/pykilosort", SORTING, 1)
    _write(session / f"alf/probe00/pykilosort/#{OLD}#", ("spikes.times.npy",), 2)
    _write(session / f"alf/probe00/pykilosort/#{NEW}#", ("spikes.times.npy", "spikes.clusters.npy"), 3)
    _write(session / "alf/probe00/iblsorter", SORTING, 4)  # on disk, not listed: not seen
    _write(session / "alf/probe01/iblsorter", SORTING, 5)  # listed, then deleted from disk
    _write(session / "alf/probe01/pykilosort", SORTING, 6)
    _write(session / "alf", ("_ibl_trials.table.pqt", "_ibl_trials.intervals.npy"), 7)
    _write(session / f"alf/#{NEW}#", ("_ibl_trials.table.pqt",), 8)
    make_parquet_db(tmp_path, hash_ids=True)

    def edit(frame):
        path = frame["rel_path"]
        frame = frame[~path.str.startswith("alf/probe00/iblsorter/")].copy()
        revision = frame["rel_path"].str.extract(r"#([^#]+)#/", expand=False).fillna("")
        unrevised = frame["rel_path"].str.replace(r"#[^#]+#/", "", regex=True)
        # default: OLD where a dataset has it, else the unrevised file (never NEW)
        has_old = unrevised.isin(unrevised[revision == OLD])
        frame["default_revision"] = ((revision == OLD) | ((revision == "") & ~has_old)).to_numpy()
        frame.loc[frame["rel_path"] == "alf/probe00/pykilosort/spikes.amps.npy", "qc"] = "CRITICAL"
        return frame

    _edit_cache(tmp_path, edit)
    _write(session / "alf", ("_ibl_trials.probabilityLeft.npy",), 9)  # on disk after the cache was built
    shutil.rmtree(session / "alf/probe01/iblsorter")
    return tmp_path, session


def _one(root: Path):
    from one.api import One

    return One(cache_dir=root, mode="local")


def _ssl(root: Path, session: Path, probe: str) -> SpikeSortingLoader:
    one_ = _one(root)
    return SpikeSortingLoader(one=one_, eid=one_.to_eid(session), pname=probe, atlas=object())


def test_sorting_follows_datasets_pqt_like_spike_sorting_loader(cache):
    root, session = cache
    ours = locate.spike_sorting(session, "probe00")
    ssl = _ssl(root, session, "probe00")
    assert ours.collection == ssl._get_spike_sorting_collection() == "alf/probe00/pykilosort"  # iblsorter unlisted
    for obj in ("spikes", "clusters"):
        ssl.download_spike_sorting_object(obj, spike_sorter=IBL_DEFAULT)
        assert sorted(map(str, ours.files(obj))) == sorted(str(Path(f)) for f in ssl.files[obj]), obj
    names = {f.name: f.parent.name for f in ours.files("spikes")}
    # the default revision (OLD) for spikes.times, not NEW; spikes.amps is QC CRITICAL: hidden
    assert names == {"spikes.times.npy": f"#{OLD}#", "spikes.clusters.npy": "pykilosort"}
    assert ours.revision == OLD
    assert np.load(session / f"alf/probe00/pykilosort/#{OLD}#/spikes.times.npy")[0] == 2


def test_pinned_revision_ignores_the_default_like_one(cache):
    root, session = cache
    ours = locate.spike_sorting(session, "probe00", revision=NEW)
    ssl = _ssl(root, session, "probe00")
    ssl.download_spike_sorting_object("spikes", spike_sorter=IBL_DEFAULT, revision=NEW)
    assert ours.revision == NEW
    assert sorted(map(str, ours.files("spikes"))) == sorted(str(Path(f)) for f in ssl.files["spikes"])


def test_listed_sorting_missing_on_disk_is_an_error_like_one(cache):
    root, session = cache
    ssl = _ssl(root, session, "probe01")
    assert ssl._get_spike_sorting_collection() == "alf/probe01/iblsorter"  # listed: IBL chooses it
    with pytest.raises(ALFObjectNotFound):
        ssl.download_spike_sorting_object("spikes", spike_sorter=IBL_DEFAULT)
    with pytest.raises(DataError, match=r"probe01/iblsorter: datasets.pqt .* lists spikes.* .* no file is on disk"):
        locate.spike_sorting(session, "probe01")


def test_trials_follow_datasets_pqt_like_session_loader(cache):
    root, session = cache
    ((task, located),) = locate.trials(session)
    one_ = _one(root)
    theirs = one_.load_object(one_.to_eid(session), "trials", collection="alf", download_only=True)
    assert sorted(map(str, located.files("trials"))) == sorted(str(Path(f)) for f in theirs)
    assert {f.name for f in located.files("trials")} == {"_ibl_trials.table.pqt", "_ibl_trials.intervals.npy"}
    trials, _ = load_session_trials(session)
    loader = SessionLoader(one=one_, eid=one_.to_eid(session))
    loader.load_trials()
    assert np.array_equal(trials["stimOn_times"], loader.trials["stimOn_times"])
    assert trials["stimOn_times"][0] == 7  # the default (unrevised) table, not NEW's


def test_without_the_cache_tables_the_disk_decides(cache):
    root, session = cache
    (root / "datasets.pqt").unlink()
    ours = locate.spike_sorting(session, "probe00")
    assert (ours.collection, ours.revision) == ("alf/probe00/iblsorter", "")
    assert locate.trials(session)[0][1].revision == NEW


def test_session_missing_from_the_cache_reads_the_disk(cache, caplog):
    root, _ = cache
    other = locate.session_folder(root, "lab", "SW001", "2024-05-07", 1)
    _write(other / "alf/probe00", SORTING, 1)
    with caplog.at_level(logging.INFO, logger="iblpipe.sources.catalog"):
        assert locate.spike_sorting(other, "probe00").collection == "alf/probe00"
    assert any("not in" in r.getMessage() and "sessions.pqt" in r.getMessage() for r in caplog.records)


def test_two_default_revisions_name_the_dataset(cache):
    root, session = cache

    def edit(frame):
        frame.loc[frame["rel_path"].str.contains("spikes.times"), "default_revision"] = True
        return frame

    _edit_cache(root, edit)
    with pytest.raises(DataError, match=r"spikes.times.npy: datasets.pqt marks revisions"):
        locate.spike_sorting(session, "probe00")


def test_one_1x_fixture_cache_with_files_on_disk(tmp_path):
    """ONE's own 1.x tables (integer ids, no default_revision, no qc): the listed probe sorting and trials."""
    for name in ("sessions.pqt", "datasets.pqt"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    one_ = _one(tmp_path)
    datasets = one_._cache["datasets"].reset_index()
    eid = next(e for e, g in datasets.groupby("eid") if g["rel_path"].str.startswith("alf/probe00/spikes").any())
    session = Path(one_.eid2path(eid))
    for rel_path in datasets.loc[datasets["eid"] == eid, "rel_path"]:
        if rel_path.startswith("alf/"):
            _write((session / rel_path).parent, (Path(rel_path).name,), 1)
    _write(session / "alf/probe00/#2030-01-01#", ("spikes.times.npy",), 2)  # on disk only: not seen
    ours = locate.spike_sorting(session, "probe00")
    ssl = SpikeSortingLoader(one=one_, eid=str(eid), pname="probe00", atlas=object())
    ssl.download_spike_sorting_object("spikes", spike_sorter=IBL_DEFAULT)
    assert ours.collection == ssl.collection and ours.revision == ""
    read = [f for f in ours.files("spikes") if f.name.split(".")[1] in SPIKE_ATTRIBUTES]  # what the loader asks for
    assert sorted(map(str, read)) == sorted(str(Path(f)) for f in ssl.files["spikes"])
    ((_, located),) = locate.trials(session)
    theirs = one_.load_object(str(eid), "trials", collection="alf", download_only=True)
    assert sorted(map(str, located.files("trials"))) == sorted(str(Path(f)) for f in theirs)


def test_listed_trials_missing_on_disk_name_the_folder(cache):
    root, session = cache
    for path in (session / "alf").glob("_ibl_trials.*"):
        path.unlink()
    with pytest.raises(DataError, match=r"alf/_ibl_trials.*datasets.pqt .* lists the trials object but no file"):
        load_session_trials(session)
