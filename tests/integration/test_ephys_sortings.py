"""Ephys on IBL's real layouts (issue 14): sorter collections, revisions, regions through clusters.channels.

IBL's own loader is the oracle: ``SpikeSortingLoader(...).load_spike_sorting()`` + ``merge_clusters`` on
the test's data root opened as a local ONE cache.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import types
import uuid

import numpy as np
import pytest
from iblatlas.regions import BrainRegions

from iblpipe.schemas import acquisition, ephys, files, reference, subject
from iblpipe.sources import ids
from iblpipe.sources.ephys import probe_path
from tests.ephys_data import write_probe

LAB, NICK = "sortlab", "SRT001"
# insertion -> (date, number, probe)
SORTERS = ("2024-02-01", 1, "probe00")  # pykilosort, iblsorter and a later iblsorter revision; channel regions
FLAT = ("2024-02-01", 1, "probe01")  # alf/probe01 itself; channel regions; a unit without spikes
NO_CHANNELS = ("2024-02-02", 1, "probe00")  # neither channels.* nor clusters.brainLocationIds
NO_CLUSTER_CHANNELS = ("2024-02-02", 1, "probe01")  # clusters.channels missing
BAD_CHANNEL = ("2024-02-03", 1, "probe00")  # clusters.channels beyond the channels arrays
UNALIGNED = ("2024-02-03", 1, "probe01")  # channels.* without regions (before alignment)
REVISED = ("2024-02-04", 1, "probe00")  # gets a new revision during the tests
BAD_UUID = ("2024-02-04", 1, "probe01")  # clusters.uuids with a value that is no uuid (refused by the insert)
INSERTIONS = (SORTERS, FLAT, NO_CHANNELS, NO_CLUSTER_CHANNELS, BAD_CHANNEL, UNALIGNED, REVISED, BAD_UUID)
LATEST = "2024-05-06"  # revision folder of SORTERS' iblsorter
DEFAULT = {"sorting_params": ephys.DEFAULT_SORTING}  # (test_another_sorting adds pykilosort rows)


def _pid(insertion) -> uuid.UUID:
    return ids.name_uuid("probe", LAB, NICK, *insertion)


def _key(insertion, sorting: str = ephys.DEFAULT_SORTING) -> dict:
    return {"probe_insertion_uuid": _pid(insertion), "sorting_params": sorting}


def _folder(root, insertion):
    return probe_path(root, LAB, NICK, *insertion)


@pytest.fixture(scope="module")
def lab(prefix, tmp_path_factory, set_data_root):
    root = tmp_path_factory.mktemp("alf")
    set_data_root(root)
    reference.Lab.insert1({"lab_name": LAB})
    sub = {"subject_uuid": ids.subject_uuid(LAB, NICK), "subject_nickname": NICK}
    subject.Subject.insert1(sub)
    for date, number in sorted({(d, n) for d, n, _ in INSERTIONS}):
        acquisition.Session.insert1(
            {
                "session_uuid": ids.session_uuid(LAB, NICK, date, number),
                "subject_uuid": sub["subject_uuid"],
                "session_lab": LAB,
                "session_start_time": dt.datetime.fromisoformat(date) + dt.timedelta(hours=10),
                "session_number": number,
            }
        )
    for d, n, p in INSERTIONS:
        ephys.ProbeInsertion.insert1(
            {
                "probe_insertion_uuid": _pid((d, n, p)),
                "session_uuid": ids.session_uuid(LAB, NICK, d, n),
                "probe_name": p,
            }
        )
    real = {"channels": "aligned", "cluster_regions": False}
    folder = _folder(root, SORTERS)
    write_probe(folder / "pykilosort", seed=10, n_clusters=9, **real)
    write_probe(folder / "iblsorter", seed=11, n_clusters=10, **real)
    write_probe(folder / "iblsorter" / f"#{LATEST}#", seed=12, n_clusters=11, silent_unit=True, **real)
    write_probe(_folder(root, FLAT), seed=13, silent_unit=True, **real)
    write_probe(_folder(root, NO_CHANNELS) / "pykilosort", seed=14, cluster_regions=False)
    write_probe(_folder(root, NO_CLUSTER_CHANNELS), seed=15, **real)
    (_folder(root, NO_CLUSTER_CHANNELS) / "clusters.channels.npy").unlink()
    bad = write_probe(_folder(root, BAD_CHANNEL), seed=16, **real)
    np.save(bad / "clusters.channels.npy", np.r_[400, np.load(bad / "clusters.channels.npy")[1:]])
    write_probe(_folder(root, UNALIGNED), seed=17, channels="unaligned", cluster_regions=False)
    write_probe(_folder(root, REVISED) / "pykilosort", seed=18, **real)
    bad_uuids = write_probe(_folder(root, BAD_UUID), seed=20, **real) / "clusters.uuids.csv"
    bad_uuids.write_text(bad_uuids.read_text().replace(bad_uuids.read_text().splitlines()[3], "not-a-uuid"))

    result = ephys.Clusters.populate(suppress_errors=True)
    ephys.UnitQuality.populate()
    ephys.RegionRollup.populate()
    yield {"root": root, "errors": {str(k["probe_insertion_uuid"]): m for k, m in result["error_list"]}}


def _ibl_units(root, insertion) -> tuple[dict, str, set]:
    """IBL's merged clusters of one insertion, the collection its loader chose and the revisions it read."""
    from brainbox.io.one import SpikeSortingLoader
    from one.alf.cache import make_parquet_db
    from one.api import One

    tables = root.with_name(root.name + "_one_tables")  # outside the data root: ours keeps reading the disk
    tables.mkdir(exist_ok=True)
    make_parquet_db(root, out_dir=tables)
    one = One(cache_dir=root, tables_dir=tables, mode="local")
    session = _folder(root, insertion).parent.parent
    atlas = types.SimpleNamespace(regions=BrainRegions())  # acronyms without building (downloading) a volume
    ssl = SpikeSortingLoader(one=one, eid=one.to_eid(session), pname=insertion[2], atlas=atlas)
    spikes, clusters, channels = ssl.load_spike_sorting()
    merged = ssl.merge_clusters(spikes, clusters, channels)
    merged["n_spikes"] = np.bincount(spikes["clusters"], minlength=merged["channels"].size)
    revisions = {f.revision or "" for f in ssl.files["spikes"] + ssl.files["clusters"]}
    return merged, ssl.collection, revisions


@pytest.mark.parametrize("insertion", [SORTERS, FLAT, REVISED], ids=["sorters", "flat", "revised"])
def test_units_equal_spike_sorting_loader(prefix, lab, insertion):
    merged, collection, revisions = _ibl_units(lab["root"], insertion)
    row = (ephys.Clusters & _key(insertion)).fetch1()
    assert row["collection"] == collection and {row["revision"]} == revisions
    units = (ephys.Clusters.Cluster & _key(insertion)).to_pandas(order_by="cluster_id")
    assert len(units) == row["n_clusters"] == merged["channels"].size
    assert (units["brain_region_id"].to_numpy() == merged["atlas_id"]).all()
    assert row["region_source"] == "channels" and row["has_regions"] == 1
    for ours, theirs in (("ml", "x"), ("ap", "y"), ("dv", "z")):
        assert np.allclose(units[ours].astype(float), merged[theirs] * 1e6, rtol=1e-5)
    assert (units["channel"].to_numpy() == merged["channels"]).all()
    assert np.allclose(units["depth"].astype(float), merged["depths"], rtol=1e-5, equal_nan=True)
    assert (units["n_spikes"].to_numpy() == merged["n_spikes"]).all()
    assert np.allclose(units["label"].astype(float), merged["label"], rtol=1e-5)
    acronyms = (ephys.Clusters.Cluster * reference.BrainRegion & _key(insertion)).to_pandas(order_by="cluster_id")
    assert (acronyms["acronym"].to_numpy() == merged["acronym"]).all()


def test_default_sorting_is_latest_iblsorter_revision(prefix, lab):
    row = (ephys.Clusters & _key(SORTERS)).fetch1()
    assert (row["spike_sorter"], row["revision"], row["collection"]) == ("iblsorter", LATEST, "alf/probe00/iblsorter")
    assert row["n_clusters"] == 11  # the revision's files, not the older iblsorter run (10) or pykilosort (9)


def test_unit_without_spikes_has_null_metrics(prefix, lab):
    for insertion in (FLAT, SORTERS):
        silent = (ephys.Clusters.Cluster & _key(insertion) & {"n_spikes": 0}).to_pandas()
        assert len(silent) == 1
        assert silent["amp_median"].isna().all() and (silent["firing_rate"] == 0).all()
        # phylib writes NaN to clusters.depths, brainbox to the spike-based metrics: all NULL here
        for column in ("depth", "contamination", "sliding_rp_viol"):
            assert silent[column].isna().all(), column
        others = (ephys.Clusters.Cluster & _key(insertion) & "n_spikes > 0").to_pandas()
        assert others["depth"].notna().all() and others["contamination"].notna().all()
        assert (
            silent.index.get_level_values("cluster_id")[0]
            == (ephys.Clusters & _key(insertion)).fetch1("n_clusters") - 1
        )


def test_bad_probes_fail_alone_naming_file_and_field(prefix, lab):
    errors = lab["errors"]
    assert set(errors) == {str(_pid(i)) for i in (NO_CHANNELS, NO_CLUSTER_CHANNELS, BAD_CHANNEL, BAD_UUID)}
    missing = errors[str(_pid(NO_CHANNELS))]
    assert "pykilosort: no channels.* files" in missing and "channels.brainLocationIds_ccf_2017" in missing
    assert "clusters.channels" in errors[str(_pid(NO_CLUSTER_CHANNELS))]
    bad = errors[str(_pid(BAD_CHANNEL))]
    assert "clusters.channels.npy" in bad and "field clusters.channels" in bad and "384 channels" in bad
    refused = errors[str(_pid(BAD_UUID))]  # the insert refused it: a DataError naming the folder, not DataJoint's
    assert refused.startswith("DataError") and str(_folder(lab["root"], BAD_UUID)) in refused
    assert "not-a-uuid" in refused and "cluster_uuid" in refused
    ok = {SORTERS, FLAT, UNALIGNED, REVISED}
    assert {r["probe_insertion_uuid"] for r in ephys.Clusters.proj().to_dicts()} == {_pid(i) for i in ok}


def test_unaligned_probe_imports_units_without_regions_and_says_so_once(prefix, lab, caplog):
    key = _key(UNALIGNED)
    row = (ephys.Clusters & key).fetch1()
    assert row["has_regions"] == 0 and row["region_source"] == ""
    assert (ephys.Clusters.Cluster & key).to_pandas()["brain_region_id"].isna().all()
    assert len(ephys.RegionUnits & key) == 0
    (ephys.Clusters & key).delete(prompt=False, part_integrity="cascade")
    with caplog.at_level(logging.WARNING, logger="iblpipe.schemas.files"):
        ephys.Clusters.populate(key)
    said = [r.getMessage() for r in caplog.records if r.name == "iblpipe.schemas.files"]
    assert len(said) == 1 and str(_folder(lab["root"], UNALIGNED)) in said[0] and "without regions" in said[0]
    assert len(ephys.Clusters.Cluster & key) == 12


def test_another_sorting_on_request(prefix, lab):
    ephys.SortingParams.insert1(
        {"sorting_params": "pykilosort", "spike_sorter": "pykilosort", "sorting_description": "pykilosort runs"}
    )
    ephys.Clusters.populate({"sorting_params": "pykilosort"}, suppress_errors=True)
    ephys.UnitQuality.populate({"sorting_params": "pykilosort"})
    row = (ephys.Clusters & _key(SORTERS, "pykilosort")).fetch1()
    assert (row["spike_sorter"], row["revision"], row["n_clusters"]) == ("pykilosort", "", 9)
    flat = (ephys.Clusters & _key(FLAT, "pykilosort")).fetch1()  # no pykilosort folder: IBL's fallback
    assert flat["collection"] == "alf/probe01"
    default = ephys.units(None)
    other = ephys.units(None, sorting_params="pykilosort")
    pid = _pid(SORTERS)
    assert (default["probe_insertion_uuid"] == pid).sum() == 11 and (other["probe_insertion_uuid"] == pid).sum() == 9
    spikes = ephys.unit_spikes({"probe_insertion_uuid": pid, "cluster_id": 0, "sorting_params": "pykilosort"})
    assert spikes["times"].size == (ephys.Clusters.Cluster & _key(SORTERS, "pykilosort") & {"cluster_id": 0}).fetch1(
        "n_spikes"
    )


def test_new_revision_replaces_old_rows(prefix, lab):
    key = _key(REVISED)
    assert (ephys.Clusters & key).fetch1("revision") == ""
    assert len(ephys.UnitQuality & key) == 2 and len(ephys.RegionRollup & key) == 2
    others = len(ephys.Clusters.Cluster()) - len(ephys.Clusters.Cluster & key)
    assert files.stale_sortings(DEFAULT) == []
    new = _folder(lab["root"], REVISED) / "pykilosort" / "#2024-09-01#"
    write_probe(new, seed=19, n_clusters=15, channels="aligned", cluster_regions=False)
    assert files.stale_sortings(DEFAULT) == [(key, "alf/probe00/pykilosort##", "alf/probe00/pykilosort#2024-09-01#")]
    assert files.follow_new_sortings(DEFAULT) == [key]
    assert len(ephys.Clusters & key) == 0 and len(ephys.UnitQuality & key) == 0 and len(ephys.RegionRollup & key) == 0
    assert len(ephys.Clusters.Cluster()) == others  # every other insertion kept
    ephys.Clusters.populate(key)
    ephys.UnitQuality.populate(key)
    row = (ephys.Clusters & key).fetch1()
    assert (row["revision"], row["n_clusters"]) == ("2024-09-01", 15)
    assert len(ephys.UnitQuality & key) == 2
    merged, collection, revisions = _ibl_units(lab["root"], REVISED)
    assert revisions == {"2024-09-01"} and merged["channels"].size == 15
    shutil.rmtree(new)
    assert files.stale_sortings(DEFAULT) == [(key, "alf/probe00/pykilosort#2024-09-01#", "alf/probe00/pykilosort##")]
