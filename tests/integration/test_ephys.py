"""Ephys tables against a tiny ALF lab: regions, clusters, good units, per-region roll-ups, bad input."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import numpy as np
import pandas as pd
import pytest
from iblatlas.regions import BrainRegions

from iblpipe.schemas import acquisition, ephys, reference, subject, units_query
from iblpipe.sources import ids
from iblpipe.sources.ephys import load_clusters, load_spikes, probe_path
from tests.ephys_data import write_probe, write_trials

LAB, NICK = "ephyslab", "EPH001"
GOOD = [("2024-01-10", 1, "probe00", 1), ("2024-01-10", 1, "probe01", 2), ("2024-01-11", 1, "probe00", 3)]
NO_REGIONS = ("2024-01-11", 1, "probe01")  # channels.* without brainLocationIds_ccf_2017 (before alignment)
BAD = {
    "unknown_region": ("2024-01-12", 1, "probe00"),
    "short_depths": ("2024-01-12", 1, "probe01"),
    "no_metrics": ("2024-01-13", 1, "probe00"),
}


NOSMOOTH = {"pre_time": 0.2, "post_time": 0.5, "bin_size": 0.05, "smoothing": 0.0}


def _pid(date: str, number: int, probe: str) -> uuid.UUID:
    return ids.name_uuid("probe", LAB, NICK, date, number, probe)


@pytest.fixture(scope="module")
def lab(prefix, tmp_path_factory, set_data_root):
    """Ontology loaded once, five insertions written and registered, the ephys tables populated."""
    root = tmp_path_factory.mktemp("alf")
    set_data_root(root)
    assert len(reference.BrainRegion()) == 0  # Clusters.populate loads the ontology on first use
    reference.Lab.insert1({"lab_name": LAB})
    sub = {"subject_uuid": ids.subject_uuid(LAB, NICK), "subject_nickname": NICK}
    subject.Subject.insert1(sub)
    subject.SubjectLab.insert1({"subject_uuid": sub["subject_uuid"], "lab_name": LAB})
    insertions = [(d, n, p) for d, n, p, _ in GOOD] + list(BAD.values()) + [NO_REGIONS]
    for date in sorted({(d, n) for d, n, _ in insertions}):
        acquisition.Session.insert1(
            {
                "session_uuid": ids.session_uuid(LAB, NICK, *date),
                "subject_uuid": sub["subject_uuid"],
                "session_lab": LAB,
                "session_start_time": dt.datetime.fromisoformat(date[0]) + dt.timedelta(hours=10),
                "session_number": date[1],
            }
        )
    for d, n, p in insertions:
        ephys.ProbeInsertion.insert1(
            {"probe_insertion_uuid": _pid(d, n, p), "session_uuid": ids.session_uuid(LAB, NICK, d, n), "probe_name": p}
        )
    for d, n, p, seed in GOOD:
        write_probe(probe_path(root, LAB, NICK, d, n, p), seed=seed)
    bad = write_probe(probe_path(root, LAB, NICK, *BAD["unknown_region"]), seed=4)
    np.save(
        bad / "clusters.brainLocationIds_ccf_2017.npy",
        np.r_[123456789, np.load(bad / "clusters.brainLocationIds_ccf_2017.npy")[1:]],
    )
    bad = write_probe(probe_path(root, LAB, NICK, *BAD["short_depths"]), seed=5)
    np.save(bad / "clusters.depths.npy", np.load(bad / "clusters.depths.npy")[:-1])
    write_probe(probe_path(root, LAB, NICK, *BAD["no_metrics"]), seed=6, metrics=False)
    write_probe(probe_path(root, LAB, NICK, *NO_REGIONS), seed=8, channels="unaligned", cluster_regions=False)
    write_trials(probe_path(root, LAB, NICK, *GOOD[0][:3]).parent, seed=7)  # session 1 only: session 2 has no trials

    result = ephys.Clusters.populate(suppress_errors=True)
    ephys.UnitQuality.populate()
    ephys.RegionRollup.populate()
    ephys.PsthParams.insert1(dict(psth_params="nosmooth", params_hash=uuid.uuid4(), **NOSMOOTH))
    psth = ephys.TrialPSTH.populate({"rule_name": "ibl_label"}, suppress_errors=True)
    yield {"root": root, "errors": result["error_list"], "psth_errors": psth["error_list"]}


def _with_regions():
    return (ephys.Clusters & {"has_regions": 1}).proj()


def _raw_units(root) -> pd.DataFrame:
    """Every good insertion's clusters straight from the ALF files (no pipeline code but the loaders)."""
    frames = []
    for d, n, p, _ in GOOD:
        folder = probe_path(root, LAB, NICK, d, n, p)
        clusters = load_clusters(folder)
        spikes = load_spikes(folder)
        n_clusters = len(clusters["depths"])
        duration = spikes["times"][-1] - spikes["times"][0]  # the recording as the spikes span it
        frames.append(
            pd.DataFrame(
                {
                    "probe_insertion_uuid": _pid(d, n, p),
                    "cluster_id": np.arange(n_clusters),
                    "brain_region_id": clusters["brainLocationIds_ccf_2017"],
                    "label": clusters["metrics"]["label"].to_numpy(),
                    "firing_rate": np.bincount(spikes["clusters"], minlength=n_clusters) / duration,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_brain_regions_complete_and_case_sensitive(prefix, lab):
    br = BrainRegions()
    assert len(reference.BrainRegion()) == br.id.size == 2655
    cm = (reference.BrainRegion & {"acronym": "CM"}).to_arrays("brain_region_id")
    lower = (reference.BrainRegion & {"acronym": "cm"}).to_arrays("brain_region_id")
    assert sorted(np.abs(cm)) == [599, 599] and sorted(np.abs(lower)) == [967, 967]
    assert len(reference.BrainRegion & {"acronym": "CA1"}) == 2
    assert len(reference.BrainRegion & {"acronym": "Ca1"}) == 0
    anc = (reference.BrainRegion.Ancestor & {"brain_region_id": 382}).to_pandas().reset_index()
    assert sorted(anc["ancestor_id"]) == sorted(br.ancestors(np.array([382]))["id"])
    assert reference.BrainRegion.load() == 0  # idempotent


def test_bad_insertions_fail_alone_naming_file_and_field(prefix, lab):
    messages = {str(key["probe_insertion_uuid"]): msg for key, msg in lab["errors"]}
    assert len(messages) == 3
    unknown = messages[str(_pid(*BAD["unknown_region"]))]
    assert "clusters.brainLocationIds_ccf_2017" in unknown and "123456789" in unknown
    assert "clusters.depths" in messages[str(_pid(*BAD["short_depths"]))]
    assert "clusters.metrics" in messages[str(_pid(*BAD["no_metrics"]))]
    for key in BAD.values():
        assert len(ephys.Clusters & {"probe_insertion_uuid": _pid(*key)}) == 0
        assert len(ephys.Clusters.Cluster & {"probe_insertion_uuid": _pid(*key)}) == 0
    assert len(ephys.Clusters()) == len(GOOD) + 1  # + the insertion without regions


def test_region_assignment_matches_alf_through_iblatlas(prefix, lab):
    raw = _raw_units(lab["root"])
    br = BrainRegions()
    raw["acronym"] = br.id2acronym(raw["brain_region_id"].to_numpy())
    db = (ephys.Clusters.Cluster * reference.BrainRegion).to_pandas().reset_index()
    merged = raw.merge(db, on=["probe_insertion_uuid", "cluster_id"], suffixes=("_alf", "_db"))
    assert len(merged) == len(raw) == len(ephys.Clusters.Cluster & _with_regions())
    assert (merged["acronym_alf"] == merged["acronym_db"]).all()


def test_region_counts_equal_groupby_of_raw_alf(prefix, lab):
    raw = _raw_units(lab["root"])
    br = BrainRegions()
    raw["good"] = raw["label"] == 1
    direct = raw.groupby(["probe_insertion_uuid", "brain_region_id"]).size()
    rolled = raw.assign(ancestor=[list(br.ancestors(np.array([r]))["id"]) for r in raw["brain_region_id"]]).explode(
        "ancestor"
    )
    rolled["good_rate"] = rolled["firing_rate"].where(rolled["good"])
    expected = rolled.groupby(["probe_insertion_uuid", "ancestor"]).agg(
        n=("good", "size"), g=("good", "sum"), rate=("firing_rate", "mean"), good_rate=("good_rate", "mean")
    )
    db = (ephys.RegionUnits & {"rule_name": "ibl_label"}).to_pandas().reset_index()
    got = db.set_index(["probe_insertion_uuid", "brain_region_id"])
    assert len(got) == len(expected)
    exp = expected.rename_axis(["probe_insertion_uuid", "brain_region_id"]).reindex(got.index)
    assert (got["n_units"].to_numpy() == exp["n"].to_numpy()).all()
    assert (got["n_good"].to_numpy() == exp["g"].to_numpy()).all()
    # float32 columns: 6 significant digits
    assert np.allclose(got["mean_firing_rate"].astype(float), exp["rate"], rtol=1e-5)
    good_rate = got["mean_good_firing_rate"].astype(float).to_numpy()
    assert np.allclose(good_rate, exp["good_rate"], rtol=1e-5, equal_nan=True)
    assert np.isnan(good_rate).sum() == (exp["g"] == 0).sum() > 0
    assert (got["n_units_direct"][got["n_units_direct"] > 0] == direct.reindex(got.index).dropna()).all()


def test_region_units_restrict_by_acronym_case_sensitive(prefix, lab):
    ca1 = (ephys.RegionUnits & {"acronym": "CA1"}).to_pandas()
    assert len(ca1) > 0 and set(ca1["acronym"]) == {"CA1"}
    assert len(ephys.RegionUnits & {"acronym": "Ca1"}) == 0
    upper = (ephys.RegionUnits & {"acronym": "CM"}).to_pandas()
    lower = (ephys.RegionUnits & {"acronym": "cm"}).to_pandas()
    assert set(upper["acronym"]) == {"CM"} and set(lower["acronym"]) == {"cm"}


def test_firing_rate_is_spikes_over_recording_duration(prefix, lab):
    d, n, p, _ = GOOD[0]
    spikes = load_spikes(probe_path(lab["root"], LAB, NICK, d, n, p))
    duration = spikes["times"][-1] - spikes["times"][0]
    counts = np.bincount(spikes["clusters"])
    got = (ephys.Clusters.Cluster & {"probe_insertion_uuid": _pid(d, n, p)}).to_pandas(order_by="cluster_id")
    # float32 columns come back over the text protocol with 6 significant digits
    assert np.allclose(got["firing_rate"], counts / duration, rtol=1e-5)
    assert (got["n_spikes"].to_numpy() == counts).all()


def test_unit_quality_ibl_label(prefix, lab):
    raw = _raw_units(lab["root"])
    q = (ephys.UnitQuality & {"rule_name": "ibl_label"} & _with_regions()).to_pandas()
    assert q["n_good"].sum() == (raw["label"] == 1).sum()
    assert q["n_units"].sum() == len(raw)


def test_units_listing_and_spikes_on_demand(prefix, lab):
    listing = ephys.units("CA", good_only=False)
    raw = _raw_units(lab["root"])
    br = BrainRegions()
    in_ca = ["CA" in br.ancestors(np.array([r]))["acronym"] for r in raw["brain_region_id"]]
    assert len(listing) == sum(in_ca)
    assert {"session_start_time", "subject_nickname", "session_lab", "acronym", "firing_rate"} <= set(listing.columns)
    assert set(listing["subject_nickname"]) == {NICK}
    row = listing.iloc[0]
    spikes = ephys.unit_spikes({"probe_insertion_uuid": row["probe_insertion_uuid"], "cluster_id": row["cluster_id"]})
    assert spikes["times"].size == row["n_spikes"]


def test_trial_psth_matches_numpy_histograms(prefix, lab):
    d, n, p, _ = GOOD[0]
    folder = probe_path(lab["root"], LAB, NICK, d, n, p)
    trials = pd.read_parquet(folder.parent / "_ibl_trials.table.pqt")
    spikes = load_spikes(folder)
    good = ephys.UnitQuality.Unit & {"probe_insertion_uuid": _pid(d, n, p), "rule_name": "ibl_label", "is_good": 1}
    rows = (ephys.TrialPSTH.Unit & good.proj() & {"psth_params": "nosmooth"}).to_pandas().reset_index()
    assert len(rows) == 3 * len(good) > 0
    cid = int(rows["cluster_id"].iloc[0])
    own = spikes["times"][spikes["clusters"] == cid]
    edges = np.arange(-NOSMOOTH["pre_time"], NOSMOOTH["post_time"] + 1e-9, NOSMOOTH["bin_size"])
    for event, column in (("stimOn", "stimOn_times"), ("firstMovement", "firstMovement_times")):
        times = trials[column].dropna().to_numpy()
        counts = np.array([np.histogram(own - t, edges)[0] for t in times]) / NOSMOOTH["bin_size"]
        row = rows[(rows["cluster_id"] == cid) & (rows["event"] == event)].iloc[0]
        assert row["n_events"] == len(times)
        assert np.allclose(row["psth_mean"], counts.mean(axis=0))
    smooth = ephys.TrialPSTH & {"probe_insertion_uuid": _pid(d, n, p), "psth_params": "default"}
    assert smooth.fetch1("n_trials") == len(trials)


def test_trial_psth_session_without_trials_fails_alone(prefix, lab):
    failed = {str(key["probe_insertion_uuid"]) for key, _ in lab["psth_errors"]}
    d, n, p, _ = GOOD[2]
    assert failed == {str(_pid(d, n, p)), str(_pid(*NO_REGIONS))}  # the session of both has no trials file
    assert all("trials" in msg for _, msg in lab["psth_errors"])
    assert len(ephys.TrialPSTH & {"probe_insertion_uuid": _pid(d, n, p)}) == 0


def test_fast_frame_equals_to_pandas(prefix, lab):
    from iblpipe.schemas.frames import to_frame

    query = ephys.Clusters.Cluster * ephys.ProbeInsertion * acquisition.Session
    pd.testing.assert_frame_equal(to_frame(query), query.to_pandas(), check_dtype=False)
    listing = ephys.units()
    assert len(listing) == len(ephys.Clusters.Cluster & _with_regions()) and listing["cluster_uuid"].notna().all()


def test_insertion_without_regions_has_units_but_no_region_rows(prefix, lab):
    key = {"probe_insertion_uuid": _pid(*NO_REGIONS)}
    assert (ephys.Clusters & key).fetch1("has_regions") == 0
    clusters = (ephys.Clusters.Cluster & key).to_pandas()
    assert len(clusters) == 12 and clusters["brain_region_id"].isna().all()
    assert len(ephys.UnitQuality & key) == 2
    assert len(ephys.RegionUnits & key) == 0 and len(ephys.RegionRollup.key_source & key) == 0


def _joined_units(acronym: str | None, good_only: bool) -> pd.DataFrame:
    """The units listing as DataJoint's own join of the tables the copy comes from (the reference)."""
    from iblpipe.schemas.columnar import datajoint_frame

    cluster = (
        ephys.Clusters.Cluster * (ephys.UnitQuality.Unit & {"rule_name": "ibl_label"}) & "brain_region_id IS NOT NULL"
    )
    if good_only:
        cluster = cluster & {"is_good": 1}
    if acronym is not None:
        targets = (reference.BrainRegion & {"acronym": acronym}).proj(ancestor_id="brain_region_id")
        cluster = cluster & (reference.BrainRegion.Ancestor & targets)
    query = (
        cluster
        * reference.BrainRegion.proj("acronym", "brain_region_name")
        * ephys.ProbeInsertion.proj("session_uuid", "probe_name")
        * acquisition.Session.proj("subject_uuid", "session_lab", "session_start_time", "session_number")
        * subject.Subject.proj("subject_nickname")
    )
    return datajoint_frame(query).reset_index()


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    order = ["probe_insertion_uuid", "cluster_id"]
    frame = frame[sorted(frame.columns)].astype({"probe_insertion_uuid": str})
    return frame.sort_values(order).reset_index(drop=True)


@pytest.mark.parametrize(
    ("acronym", "good_only"), [("CA", False), ("CA", True), ("CA1", False), (None, False), ("CAx", False)]
)
def test_units_listing_equals_the_join_of_its_source_tables(prefix, lab, acronym, good_only):
    listing = ephys.units(acronym, good_only=good_only)
    joined = _joined_units(acronym, good_only)
    if acronym == "CAx":  # no such region: no row, the columns kept
        assert len(listing) == 0 and {"cluster_id", "subject_nickname"} <= set(listing.columns)
        return
    assert len(listing) > 0
    pd.testing.assert_frame_equal(_canonical(listing), _canonical(joined), check_dtype=False)


def test_migrate_copies_the_units_of_rows_made_before_the_region_copy(prefix, lab, run_cli, caplog):
    """A database populated before UnitQuality.RegionUnit existed: `db migrate` fills it; units() as before."""
    before = _canonical(ephys.units(None))
    key = {"probe_insertion_uuid": _pid(*GOOD[0][:3])}
    held = len(ephys.UnitQuality.RegionUnit & key)
    assert held > 0
    (ephys.UnitQuality.RegionUnit & key).delete_quick()  # as the earlier code left it
    units_query._COMPLETE.clear()  # this process found the copies complete before
    with caplog.at_level(logging.WARNING, logger="iblpipe.schemas.units_query"):
        assert len(ephys.units(None)) == len(before) - held // 2  # two rules hold copies; units() reads one
    assert "2 UnitQuality row(s) have no UnitQuality.RegionUnit copies" in caplog.text
    assert "iblpipe db migrate" in caplog.text
    dry = run_cli("db", "migrate", "--dry-run", "--prefix", prefix)
    assert dry.returncode == 0, dry.stderr
    assert "would copy the units of 2 UnitQuality row(s) into UnitQuality.RegionUnit" in dry.stdout
    out = run_cli("db", "migrate", "--prefix", prefix)
    assert out.returncode == 0, out.stderr
    assert "copied the units of 2 UnitQuality row(s) into UnitQuality.RegionUnit" in out.stdout
    caplog.clear()
    pd.testing.assert_frame_equal(_canonical(ephys.units(None)), before)
    assert "RegionUnit" not in caplog.text
    again = run_cli("db", "migrate", "--prefix", prefix)
    assert again.returncode == 0 and "copied" not in again.stdout
