"""Tiny spike-sorting probe folders written by code, in the IBL ALF layout (for ephys tests)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd

# Allen ids the tiny probes draw their clusters from (leaves and mid-level regions, both CM and cm).
REGION_IDS = np.array([382, 463, 10703, 778, 599, 967, 1020, 218, 767])
N_CHANNELS = 384  # (channels) of a Neuropixels 1.0 probe


def write_probe(
    folder: Path,
    *,
    seed: int,
    n_clusters: int = 12,
    n_spikes: int = 3000,
    duration: float = 600.0,
    region_ids: np.ndarray | None = None,
    metrics: bool = True,
    channels: str = "",
    cluster_regions: bool = True,
    silent_unit: bool = False,
) -> Path:
    """Write spikes.* and clusters.* for one probe; return the folder.

    ``channels``: "" no channels.* files; "aligned" channels.* with regions and mlapdv (IBL's layout);
    "unaligned" channels.localCoordinates and rawInd only (before histology alignment).
    ``cluster_regions``: write clusters.brainLocationIds_ccf_2017 and clusters.mlapdv (older labs).
    ``silent_unit``: the last cluster gets no spikes and, as phylib and ibllib write them, NaN in
    clusters.depths and in its spike-based metrics (contamination, slidingRP_viol).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    times = np.sort(rng.uniform(5.0, 5.0 + duration, n_spikes))
    clusters = rng.integers(0, n_clusters, n_spikes)
    clusters[:n_clusters] = np.arange(n_clusters)  # every cluster has at least one spike
    if silent_unit:
        clusters[clusters == n_clusters - 1] = 0
    amps = rng.lognormal(np.log(80e-6), 0.3, n_spikes)
    np.save(folder / "spikes.times.npy", times)
    np.save(folder / "spikes.clusters.npy", clusters)
    np.save(folder / "spikes.amps.npy", amps)
    np.save(folder / "spikes.depths.npy", rng.uniform(0, 3800, n_spikes))
    cluster_channels = rng.integers(0, N_CHANNELS, n_clusters)
    np.save(folder / "clusters.channels.npy", cluster_channels)
    depths = rng.uniform(0, 3800, n_clusters)
    if silent_unit:
        depths[-1] = np.nan  # phylib's alf.py: clusters_depths[nan_idx] = np.nan
    np.save(folder / "clusters.depths.npy", depths)
    if region_ids is None:
        region_ids = rng.choice(REGION_IDS, n_clusters)
    if cluster_regions:
        np.save(folder / "clusters.brainLocationIds_ccf_2017.npy", np.asarray(region_ids))
        np.save(folder / "clusters.mlapdv.npy", rng.uniform(-4000, 4000, (n_clusters, 3)))
    if channels:
        index = np.arange(N_CHANNELS)
        np.save(folder / "channels.localCoordinates.npy", np.c_[(index % 2) * 32.0, (index // 2) * 20.0])
        np.save(folder / "channels.rawInd.npy", index)
    if channels == "aligned":
        np.save(folder / "channels.brainLocationIds_ccf_2017.npy", rng.choice(REGION_IDS, N_CHANNELS))
        np.save(folder / "channels.mlapdv.npy", rng.uniform(-4000, 4000, (N_CHANNELS, 3)))
    uuids = [str(uuid.UUID(bytes=rng.bytes(16))) for _ in range(n_clusters)]
    pd.DataFrame({"uuids": uuids}).to_csv(folder / "clusters.uuids.csv", index=False)
    if metrics:
        table = pd.DataFrame(
            {
                "cluster_id": np.arange(n_clusters),
                "label": rng.choice([0.0, 1 / 3, 2 / 3, 1.0], n_clusters),
                "ks2_label": rng.choice(["good", "mua"], n_clusters),
                "contamination": rng.uniform(0, 0.3, n_clusters),
                "presence_ratio": rng.uniform(0.5, 1, n_clusters),
                "slidingRP_viol": rng.integers(0, 2, n_clusters).astype(float),
                "amp_median": np.full(n_clusters, 80e-6),
            }
        )
        if silent_unit:  # brainbox's quick_unit_metrics leaves these NaN for a cluster without spikes
            table.loc[n_clusters - 1, ["contamination", "slidingRP_viol", "amp_median"]] = np.nan
        table.to_parquet(folder / "clusters.metrics.pqt")
    return folder


def write_trials(alf: Path, *, seed: int, n_trials: int = 40, start: float = 10.0, stop: float = 590.0) -> Path:
    """Write ``_ibl_trials.table.pqt`` with stimOn, firstMovement (some NaN) and feedback times."""
    rng = np.random.default_rng(seed)
    alf.mkdir(parents=True, exist_ok=True)
    stim = np.sort(rng.uniform(start, stop, n_trials))
    move = stim + rng.uniform(0.1, 0.4, n_trials)
    move[::7] = np.nan
    pd.DataFrame(
        {"stimOn_times": stim, "firstMovement_times": move, "feedback_times": stim + rng.uniform(0.5, 0.9, n_trials)}
    ).to_parquet(alf / "_ibl_trials.table.pqt")
    return alf / "_ibl_trials.table.pqt"
