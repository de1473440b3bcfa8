"""The region-units benchmark's ONE recompute reads the sorting the pipeline and ``load_spike_sorting()`` read.

Layout of the demo lab's probes that disagreed (benchmark lab-20): ``alf/probe00/pykilosort/`` and
``alf/probe00/iblsorter/`` with its re-run in ``#2024-06-02#``. A ``SpikeSortingLoader`` built
without ``spike_sorter`` keeps its dataclass default ``"pykilosort"`` for object-level loads
(``load_spike_sorting_object``, ``load_channels``), so the recompute read pykilosort while
``load_spike_sorting()`` and SortingParams ``ibl_default`` read iblsorter.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pandas as pd
from brainbox.io.one import SpikeSortingLoader
from iblatlas.regions import BrainRegions
from iblutil.io import parquet

from benchmarks.region_units import recompute_with_one
from iblpipe.sources import locate
from iblpipe.sources.ephys import REGION_KEY, load_channels, load_clusters, place_units

REVISION = "2024-06-02"
BR = BrainRegions()
# per-channel regions of each sorting; CA1sp is a descendant of CA1
CHANNEL_REGIONS = {
    "pykilosort": ["CA1", "CA1", "CA1", "CA3", "CA3", "VISp", "VISp", "VISp"],
    "iblsorter": ["CA1", "CA1sp", "CA3", "CA3", "VISp", "VISp", "VISp", "VISp"],
}
CLUSTER_CHANNELS = {"pykilosort": [0, 1, 2, 3, 5, 6], "iblsorter": [0, 1, 2, 4, 6]}
LABELS = {"pykilosort": [1, 1, 0, 1, 0, 1], "iblsorter": [1, 0.33, 1, 1, 0]}


def _write_sorting(folder: Path, sorter: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ids = BR.acronym2id(CHANNEL_REGIONS[sorter])
    n_channels, n_clusters = len(ids), len(CLUSTER_CHANNELS[sorter])
    np.save(folder / "channels.brainLocationIds_ccf_2017.npy", ids)
    np.save(folder / "channels.mlapdv.npy", np.arange(n_channels * 3, dtype=float).reshape(-1, 3))
    np.save(folder / "channels.localCoordinates.npy", np.c_[np.zeros(n_channels), np.arange(n_channels) * 20.0])
    np.save(folder / "channels.rawInd.npy", np.arange(n_channels))
    np.save(folder / "clusters.channels.npy", np.array(CLUSTER_CHANNELS[sorter]))
    np.save(folder / "clusters.depths.npy", np.arange(n_clusters) * 20.0)
    pd.DataFrame({"label": LABELS[sorter]}).to_parquet(folder / "clusters.metrics.pqt")
    pd.DataFrame({"uuids": [f"{sorter}-{i}" for i in range(n_clusters)]}).to_csv(folder / "clusters.uuids.csv")
    clusters = np.repeat(np.arange(n_clusters), 3)
    np.save(folder / "spikes.clusters.npy", clusters)
    np.save(folder / "spikes.times.npy", np.linspace(0, 10, clusters.size))
    np.save(folder / "spikes.amps.npy", np.full(clusters.size, 1e-4))
    np.save(folder / "spikes.depths.npy", np.full(clusters.size, 100.0))


def _counts(regions, labels, pid) -> pd.DataFrame:
    inside = np.isin(regions, BR.descendants(BR.acronym2id(["CA1"]))["id"])
    good = np.asarray(labels)[inside] == 1
    index = pd.Index([pid], name="probe_insertion_uuid")
    return pd.DataFrame({"n_units": [int(inside.sum())], "n_good": [int(good.sum())]}, index=index)


def test_recompute_reads_load_spike_sorting_default_sorting(tmp_path):
    from one.alf.cache import make_parquet_db
    from one.api import One

    session = locate.session_folder(tmp_path, "cortexlab", "COR_001", "2024-05-03", 1)
    _write_sorting(session / "alf/probe00/pykilosort", "pykilosort")
    _write_sorting(session / "alf/probe00/iblsorter", "pykilosort")  # the first run, superseded by the revision
    _write_sorting(session / f"alf/probe00/iblsorter/#{REVISION}#", "iblsorter")
    make_parquet_db(tmp_path)
    # as the lab's cache lists them: the revision is the default, the first run's files are not
    datasets, meta = parquet.load(tmp_path / "datasets.pqt")
    datasets["default_revision"] = ~datasets["rel_path"].str.match(r"alf/probe00/iblsorter/[^#/]+$")
    parquet.save(tmp_path / "datasets.pqt", datasets, meta)
    one = One(cache_dir=tmp_path, mode="local")
    atlas = types.SimpleNamespace(regions=BR)

    # IBL's loader as the pipeline promises to follow it (issue 14): load_spike_sorting() and merge_clusters
    ssl = SpikeSortingLoader(one=one, session_path=session, pname="probe00", atlas=atlas)
    merged = ssl.merge_clusters(*ssl.load_spike_sorting())
    assert ssl.collection == "alf/probe00/iblsorter"
    expected = _counts(merged["atlas_id"], merged["label"], "pid0")
    # the pipeline's sorting and units for SortingParams ibl_default
    ours = locate.spike_sorting(session, "probe00")
    assert (ours.collection, ours.revision) == ("alf/probe00/iblsorter", REVISION)
    placed, _ = place_units(load_clusters(ours), load_channels(ours), ours.folder)
    assert _counts(placed[REGION_KEY], placed["metrics"]["label"], "pid0").equals(expected)
    # the layout matters: pykilosort's CA1 counts differ, so reading it would disagree
    pyks = _counts(
        BR.acronym2id(CHANNEL_REGIONS["pykilosort"])[CLUSTER_CHANNELS["pykilosort"]], LABELS["pykilosort"], "pid0"
    )
    assert not pyks.equals(expected)

    insertion = {"probe_insertion_uuid": "pid0", "session_uuid": one.to_eid(session), "probe_name": "probe00"}
    got = recompute_with_one(one, [insertion], "CA1")
    assert got.astype(int).equals(expected)


def test_units_goal_is_per_20k_rows():
    from benchmarks import measures

    def ok(rows, seconds):
        return measures._units("units", {"rows": rows, "units_s": seconds}, "k")["k"]["meets_goal"]

    assert ok(20_000, 0.099) and not ok(20_000, 0.101) and ok(9_000, 0.099) and not ok(9_000, 0.12)
    assert ok(40_000, 0.19) and not ok(40_000, 0.21)
