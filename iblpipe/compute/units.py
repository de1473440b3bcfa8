"""Units: per-cluster summaries, good-unit rules, per-region roll-ups (pure numpy/pandas).

Definitions follow IBL's ``brainbox.metrics.single_units.quick_unit_metrics``:
the recording duration of a probe is its last minus its first spike time, a
cluster's firing rate is its spike count over that duration (not over its own
last spike time), and its median amplitude is the geometric median of its
spike amplitudes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from iblpipe.compute.params import content_hash  # noqa: F401  (re-exported: the one parameter hash)

MIN_SPIKES_FOR_DURATION = 2  # (count) spikes a probe needs for a recording duration (last - first spike time)

# Metrics a good-unit rule may test, as named in ``ClusterTable.units`` columns.
RULE_METRICS = (
    "label",
    "ks2_label",
    "contamination",
    "contamination_alt",
    "presence_ratio",
    "sliding_rp_viol",
    "noise_cutoff",
    "amp_median",
    "firing_rate",
    "n_spikes",
)
RULE_OPERATORS = ("min", "max", "equals")

# IBL's default: a unit is good when its metrics label is 1 (all three IBL criteria pass).
IBL_LABEL_GOOD = 1.0  # (fraction) of the IBL criteria passed, as in clusters.metrics label
IBL_LABEL_RULE = {"label": {"min": IBL_LABEL_GOOD}}
KS2_GOOD_RULE = {"ks2_label": {"equals": "good"}}


@dataclass(frozen=True)
class ClusterTable:
    """One probe's clusters: a row per cluster, and the duration that defines firing rates."""

    units: pd.DataFrame  # indexed 0..n-1 by cluster_id
    n_spikes: int  # (count) spikes of the probe
    recording_duration: float  # (s) last minus first spike time of the probe


def _check_lengths(fields: dict[str, np.ndarray], what: str) -> int:
    """The common length of ``fields``, or ValueError naming the fields that differ."""
    lengths = {name: len(values) for name, values in fields.items() if values is not None}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise ValueError(f"{what} arrays differ in length ({detail})")
    return next(iter(lengths.values()))


def cluster_table(
    spike_times: np.ndarray,
    spike_clusters: np.ndarray,
    spike_amps: np.ndarray,
    clusters: dict,
) -> ClusterTable:
    """Summarise one probe's spikes and cluster files into one row per cluster.

    Parameters
    ----------
    spike_times, spike_clusters, spike_amps
        ``spikes.times`` (s, sorted), ``spikes.clusters`` (cluster id per spike),
        ``spikes.amps`` (V).
    clusters
        ``channels``, ``depths`` (um), ``metrics`` (DataFrame with at least
        ``cluster_id`` and ``label``), optionally ``brainLocationIds_ccf_2017``,
        ``mlapdv`` (n x 3, um) and ``uuids``. Keys use the ALF attribute names.

    Raises
    ------
    ValueError
        Naming the field (``spikes.times``, ``clusters.depths``, ``clusters.metrics.label``...).
    """
    spike_times = np.asarray(spike_times, dtype=float)
    spike_clusters = np.asarray(spike_clusters).astype(np.int64)
    spike_amps = np.asarray(spike_amps, dtype=float)
    n_spk = _check_lengths(
        {"spikes.times": spike_times, "spikes.clusters": spike_clusters, "spikes.amps": spike_amps}, "spikes"
    )
    if n_spk < MIN_SPIKES_FOR_DURATION:
        raise ValueError(f"spikes.times: {n_spk} spikes, need {MIN_SPIKES_FOR_DURATION} for a recording duration")
    if np.any(np.diff(spike_times) < 0):
        raise ValueError("spikes.times: not sorted in time")
    regions = clusters.get("brainLocationIds_ccf_2017")
    mlapdv = clusters.get("mlapdv")
    uuids = clusters.get("uuids")
    if uuids is not None:
        uuids = np.asarray(uuids.iloc[:, 0] if isinstance(uuids, pd.DataFrame) else uuids, dtype=str)
    per_cluster = {
        "clusters.channels": np.asarray(clusters["channels"]),
        "clusters.depths": np.asarray(clusters["depths"]),
        "clusters.brainLocationIds_ccf_2017": None if regions is None else np.asarray(regions),
        "clusters.mlapdv": None if mlapdv is None else np.asarray(mlapdv),
        "clusters.uuids": uuids,
    }
    n_clu = _check_lengths(per_cluster, "clusters")
    if mlapdv is not None and np.asarray(mlapdv).shape[1:] != (3,):
        raise ValueError(f"clusters.mlapdv: shape {np.asarray(mlapdv).shape}, expected (n_clusters, 3)")
    if spike_clusters.min() < 0 or spike_clusters.max() >= n_clu:
        raise ValueError(f"spikes.clusters: ids outside 0..{n_clu - 1} (clusters.* arrays have {n_clu} rows)")
    metrics = _metrics_by_cluster(clusters["metrics"], n_clu)

    duration = float(spike_times[-1] - spike_times[0])
    counts = np.bincount(spike_clusters, minlength=n_clu)
    with np.errstate(divide="ignore"):  # a zero amplitude is -inf dB; it only moves the median
        log_amps = pd.Series(20 * np.log10(spike_amps)).groupby(spike_clusters).median()
    amp_median = np.full(n_clu, np.nan)
    amp_median[log_amps.index.to_numpy()] = 10 ** (log_amps.to_numpy() / 20)
    units = pd.DataFrame(
        {
            "cluster_id": np.arange(n_clu),
            "cluster_uuid": uuids if uuids is not None else None,
            "depth": per_cluster["clusters.depths"].astype(float),
            "channel": per_cluster["clusters.channels"].astype(np.int64),
            "amp_median": amp_median,
            "firing_rate": counts / duration,
            "n_spikes": counts,
            "brain_region_id": pd.array(regions, dtype="Int64") if regions is not None else pd.NA,
        }
    )
    if mlapdv is not None:
        units[["ml", "ap", "dv"]] = np.asarray(mlapdv, dtype=float)
    else:
        units[["ml", "ap", "dv"]] = np.nan
    for column in metrics.columns:
        units[column] = metrics[column].to_numpy()
    return ClusterTable(units, n_spk, duration)


# clusters.metrics.pqt column -> our column; label is required, the others are kept when present.
METRIC_COLUMNS = {
    "label": "label",
    "ks2_label": "ks2_label",
    "contamination": "contamination",
    "contamination_alt": "contamination_alt",
    "presence_ratio": "presence_ratio",
    "slidingRP_viol": "sliding_rp_viol",
    "noise_cutoff": "noise_cutoff",
    "drift": "drift",
}
REQUIRED_METRICS = ("cluster_id", "label")


def _metrics_by_cluster(metrics: pd.DataFrame, n_clusters: int) -> pd.DataFrame:
    """``clusters.metrics`` reindexed to clusters 0..n-1 with our column names; missing optional columns are NaN."""
    if not isinstance(metrics, pd.DataFrame):
        raise ValueError("clusters.metrics: not a table")
    for field in REQUIRED_METRICS:
        if field not in metrics.columns:
            raise ValueError(f"clusters.metrics.{field}: column missing")
    ids = metrics["cluster_id"].to_numpy()
    if len(ids) != n_clusters or not np.array_equal(np.sort(ids), np.arange(n_clusters)):
        raise ValueError(f"clusters.metrics.cluster_id: expected each of 0..{n_clusters - 1} once, got {len(ids)} rows")
    ordered = metrics.set_index("cluster_id").reindex(np.arange(n_clusters))
    out = pd.DataFrame(index=np.arange(n_clusters))
    for source, target in METRIC_COLUMNS.items():
        out[target] = ordered[source].to_numpy() if source in ordered.columns else np.nan
    out["ks2_label"] = out["ks2_label"].astype(object).where(out["ks2_label"].notna(), None)
    return out


@dataclass(frozen=True)
class Verdict:
    """Which units pass a good-unit rule, and why the others fail."""

    is_good: np.ndarray  # (bool) per unit
    failed: list[str]  # per unit: comma-separated names of failed criteria, empty when good
    breakdown: pd.DataFrame  # (bool) one column per criterion, True = passed


def check_rule(criteria: dict) -> None:
    """ValueError naming the metric or operator a rule gets wrong."""
    if not criteria:
        raise ValueError("criteria: a rule needs at least one criterion")
    for metric, test in criteria.items():
        if metric not in RULE_METRICS:
            raise ValueError(f"criteria.{metric}: unknown metric (known: {', '.join(RULE_METRICS)})")
        if not isinstance(test, dict) or not test or set(test) - set(RULE_OPERATORS):
            raise ValueError(f"criteria.{metric}: expected a dict with keys among {RULE_OPERATORS}, got {test!r}")


def apply_rule(units: pd.DataFrame, criteria: dict) -> Verdict:
    """Judge every unit by ``criteria`` ({metric: {"min"|"max"|"equals": value}}).

    A missing metric value (NaN/None) fails its criterion.
    """
    check_rule(criteria)
    breakdown = pd.DataFrame(index=units.index)
    for metric, test in criteria.items():
        if metric not in units.columns:
            raise ValueError(f"units.{metric}: column missing, needed by the rule")
        values = units[metric]
        passed = values.notna().to_numpy()
        if "min" in test:
            passed &= pd.to_numeric(values, errors="coerce").fillna(-np.inf).to_numpy() >= test["min"]
        if "max" in test:
            passed &= pd.to_numeric(values, errors="coerce").fillna(np.inf).to_numpy() <= test["max"]
        if "equals" in test:
            passed &= (values == test["equals"]).to_numpy()
        breakdown[metric] = passed
    is_good = breakdown.all(axis=1).to_numpy()
    names = np.array(breakdown.columns)
    failed = [",".join(names[~row]) for row in breakdown.to_numpy()]
    return Verdict(is_good, failed, breakdown)


def region_rollup(
    region_ids: np.ndarray,
    firing_rates: np.ndarray,
    is_good: np.ndarray,
    closure: pd.DataFrame,
) -> pd.DataFrame:
    """Unit counts and mean firing rates per region, each region counting its descendants' units.

    Parameters
    ----------
    region_ids
        Allen id per unit; units without a region (NaN / pd.NA) are left out.
    firing_rates
        (Hz) per unit.
    is_good
        (bool) per unit under one rule.
    closure
        ``brain_region_id, ancestor_id`` pairs (self included) for at least the ids present.

    Returns
    -------
    DataFrame with ``brain_region_id, n_units, n_good, n_units_direct,
    mean_firing_rate, mean_good_firing_rate`` (NaN when no good unit), one row per
    region reached, sorted by id.
    """
    _check_lengths({"region_ids": region_ids, "firing_rates": firing_rates, "is_good": is_good}, "units")
    ids = pd.array(region_ids, dtype="Int64")
    assigned = ~np.asarray(ids.isna())
    units = pd.DataFrame(
        {
            "unit_region": np.asarray(ids[assigned], dtype=np.int64),
            "firing_rate": np.asarray(firing_rates, dtype=float)[assigned],
            "is_good": np.asarray(is_good, dtype=bool)[assigned],
        }
    )
    columns = ["brain_region_id", "n_units", "n_good", "n_units_direct", "mean_firing_rate", "mean_good_firing_rate"]
    if units.empty:
        return pd.DataFrame(columns=columns)
    missing = np.setdiff1d(units["unit_region"].unique(), closure["brain_region_id"].to_numpy())
    if missing.size:
        raise ValueError(f"closure: no ancestors for region ids {missing[:5].tolist()}")
    expanded = units.merge(
        closure[["brain_region_id", "ancestor_id"]], left_on="unit_region", right_on="brain_region_id"
    ).drop(columns="brain_region_id")
    expanded["good_rate"] = expanded["firing_rate"].where(expanded["is_good"])
    expanded["direct"] = expanded["unit_region"] == expanded["ancestor_id"]
    out = (
        expanded.groupby("ancestor_id")
        .agg(
            n_units=("firing_rate", "size"),
            n_good=("is_good", "sum"),
            n_units_direct=("direct", "sum"),
            mean_firing_rate=("firing_rate", "mean"),
            mean_good_firing_rate=("good_rate", "mean"),
        )
        .reset_index()
        .rename(columns={"ancestor_id": "brain_region_id"})
    )
    return out[columns].sort_values("brain_region_id", ignore_index=True)
