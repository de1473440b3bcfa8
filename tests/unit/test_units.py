"""Unit computations and ALF loaders on tiny probes, compared with brainbox and iblatlas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from brainbox.metrics.single_units import quick_unit_metrics
from iblatlas.regions import BrainRegions

from iblpipe.compute import units
from iblpipe.errors import DataError
from iblpipe.sources.atlas import allen_ontology, ancestor_closure
from iblpipe.sources.ephys import load_clusters, load_spikes, load_unit_spikes
from tests.ephys_data import write_probe


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    return write_probe(tmp_path_factory.mktemp("probe") / "probe00", seed=11)


@pytest.fixture(scope="module")
def ontology():
    return allen_ontology()


def _table(folder):
    spikes, clusters = load_spikes(folder), load_clusters(folder)
    return units.cluster_table(spikes["times"], spikes["clusters"], spikes["amps"], clusters), spikes


def test_firing_rate_and_amplitude_agree_with_brainbox(probe):
    table, spikes = _table(probe)
    ref = quick_unit_metrics(spikes["clusters"], spikes["times"], spikes["amps"], spikes["depths"])
    ref = pd.DataFrame(dict(ref)).set_index("cluster_id")
    assert np.allclose(table.units["firing_rate"], ref.loc[table.units["cluster_id"], "firing_rate"])
    assert np.allclose(table.units["amp_median"], ref.loc[table.units["cluster_id"], "amp_median"])
    assert table.recording_duration == spikes["times"][-1] - spikes["times"][0]
    assert table.units["n_spikes"].sum() == table.n_spikes == spikes["times"].size


def test_lengths_that_differ_name_the_fields(probe):
    spikes, clusters = load_spikes(probe), load_clusters(probe)
    with pytest.raises(ValueError, match=r"spikes.amps: 2999"):
        units.cluster_table(spikes["times"], spikes["clusters"], spikes["amps"][1:], clusters)
    with pytest.raises(ValueError, match=r"clusters.depths: 11"):
        units.cluster_table(
            spikes["times"], spikes["clusters"], spikes["amps"], dict(clusters, depths=clusters["depths"][1:])
        )
    with pytest.raises(ValueError, match=r"clusters.metrics.label"):
        units.cluster_table(
            spikes["times"],
            spikes["clusters"],
            spikes["amps"],
            dict(clusters, metrics=clusters["metrics"].drop(columns="label")),
        )
    with pytest.raises(ValueError, match=r"spikes.times: not sorted"):
        units.cluster_table(spikes["times"][::-1], spikes["clusters"], spikes["amps"], clusters)


def test_missing_metrics_file_names_it(tmp_path):
    folder = write_probe(tmp_path / "probe00", seed=3, metrics=False)
    with pytest.raises(DataError, match=r"clusters.metrics"):
        load_clusters(folder)
    with pytest.raises(DataError, match=r"probe folder not found"):
        load_spikes(tmp_path / "nope")


def test_unit_spikes_on_demand(probe):
    spikes = load_spikes(probe)
    one = load_unit_spikes(probe, 3)
    assert np.array_equal(one["times"], spikes["times"][spikes["clusters"] == 3])


def test_rules_give_verdict_and_breakdown():
    frame = pd.DataFrame(
        {"label": [1.0, 2 / 3, np.nan], "contamination": [0.05, 0.01, 0.2], "ks2_label": ["good", "mua", None]}
    )
    v = units.apply_rule(frame, units.IBL_LABEL_RULE)
    assert v.is_good.tolist() == [True, False, False] and v.failed == ["", "label", "label"]
    v = units.apply_rule(frame, {"label": {"min": 0.5}, "contamination": {"max": 0.1}})
    assert v.is_good.tolist() == [True, True, False] and v.failed[2] == "label,contamination"
    assert units.apply_rule(frame, units.KS2_GOOD_RULE).is_good.tolist() == [True, False, False]
    assert units.content_hash({"a": 1, "b": 2}) == units.content_hash({"b": 2, "a": 1})
    with pytest.raises(ValueError, match="criteria.bogus"):
        units.check_rule({"bogus": {"min": 1}})


def test_closure_matches_iblatlas_ancestors(ontology):
    br = BrainRegions()
    closure = ontology.closure
    for region in (382, 599, 967, -382, 997, 0):
        mine = closure.loc[closure["brain_region_id"] == region].sort_values("distance")["ancestor_id"].tolist()
        assert mine == list(br.ancestors(np.array([region]))["id"])[::-1]
    assert len(ontology.regions) == 2655
    with pytest.raises(ValueError, match="parents"):
        ancestor_closure(np.array([1, 2]), np.array([np.nan, 5.0]))


def test_rollup_counts_every_ancestor(ontology):
    ids = np.array([382, 382, 463, pd.NA, 599], dtype=object)
    rates = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    good = np.array([True, False, True, True, True])
    out = units.region_rollup(ids, rates, good, ontology.closure).set_index("brain_region_id")
    assert out.loc[382, "n_units"] == 2 and out.loc[382, "n_good"] == 1 and out.loc[382, "n_units_direct"] == 2
    assert out.loc[382, "mean_firing_rate"] == 2.0 and out.loc[382, "mean_good_firing_rate"] == 1.0
    ca = 375  # Ammon's horn: CA1 + CA3 units
    assert out.loc[ca, "n_units"] == 3 and out.loc[ca, "n_units_direct"] == 0 and out.loc[ca, "mean_firing_rate"] == 3.0
    assert out.loc[997, "n_units"] == 4  # root: every unit with a region


def test_psth_checks_inputs_and_trials_files(tmp_path, probe):
    from iblpipe.compute.psth import trial_psth
    from iblpipe.sources.ephys import load_trial_events
    from tests.ephys_data import write_trials

    spikes = load_spikes(probe)
    with pytest.raises(ValueError, match="event_times"):
        trial_psth(spikes["times"], spikes["clusters"], [1], [np.nan, np.nan])
    with pytest.raises(ValueError, match="spikes.clusters"):
        trial_psth(spikes["times"], spikes["clusters"][1:], [1], [10.0])
    with pytest.raises(DataError, match="no trials files"):
        load_trial_events(tmp_path)
    table = write_trials(tmp_path / "alf", seed=2)
    pd.read_parquet(table).drop(columns="feedback_times").to_parquet(table)
    with pytest.raises(DataError, match="feedback_times"):
        load_trial_events(tmp_path / "alf")


@pytest.mark.parametrize("smoothing", [0.0, 0.025])
def test_psth_equals_brainbox_calculate_peths(probe, smoothing):
    from brainbox.singlecell import calculate_peths

    from iblpipe.compute.psth import trial_psth

    spikes = load_spikes(probe)
    events = np.r_[np.linspace(20.0, 580.0, 30), 5.0 + 1e-3]  # one event whose window starts before the first spike
    ids = np.array([0, 2, 5, 7])
    ref, _ = calculate_peths(spikes["times"], spikes["clusters"], ids, events, 0.2, 0.5, 0.025, smoothing)
    mine = trial_psth(spikes["times"], spikes["clusters"], ids, events, smoothing=smoothing)
    assert np.allclose(mine.bin_times, ref["tscale"])
    assert np.allclose(mine.mean, ref["means"]) and np.allclose(mine.std, ref["stds"])
    assert mine.mean.sum() > 0
