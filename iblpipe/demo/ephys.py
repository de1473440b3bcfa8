"""Synthetic spike sorting of one Neuropixels probe, in IBL's ALF layout (``alf/probeNN/``)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

N_CHANNELS = 384  # (channels) Neuropixels 1.0 sites
SITE_PITCH = 20.0  # (um) vertical distance between site rows
SITE_X = (43.0, 11.0, 59.0, 27.0)  # (um) lateral site positions, repeating every 4 channels
MIN_CLUSTERS, MAX_CLUSTERS = 200, 600  # (clusters) per probe
MAX_SPIKES_PER_PROBE = 400_000  # (spikes) keeps the demo small; rates are scaled down to fit
RESPONSIVE_FRACTION = 0.3  # (fraction) units with a stimulus-locked response
RESPONSE_LATENCY = 0.08  # (s) mean latency of the stimulus-locked spikes after stimOn
MIN_AMP_GOOD = 50e-6  # (V) IBL's amplitude criterion for a good unit
MAX_NOISE_CUTOFF = 5.0  # (a.u.) IBL's noise cutoff criterion (5 in bwm definitions; 20 older)

# Plausible tracks from the brain surface down: (Allen acronym, thickness in um).
TRACKS = (
    (("VISa1", 100), ("VISa2/3", 250), ("VISa4", 100), ("VISa5", 250), ("VISa6a", 250), ("VISa6b", 50),
     ("alv", 100), ("CA1", 300), ("DG-mo", 200), ("DG-sg", 100), ("DG-po", 250), ("LP", 700), ("PO", 1200)),
    (("MOs1", 120), ("MOs2/3", 300), ("MOs5", 350), ("MOs6a", 400), ("MOs6b", 80), ("ccb", 150),
     ("CP", 1500), ("ACB", 900)),
    (("SSp-bfd1", 100), ("SSp-bfd2/3", 300), ("SSp-bfd4", 200), ("SSp-bfd5", 250), ("SSp-bfd6a", 300),
     ("SSp-bfd6b", 50), ("or", 100), ("CA1", 250), ("CA3", 400), ("VPM", 900), ("RT", 200), ("ZI", 900)),
    (("VISp1", 100), ("VISp2/3", 250), ("VISp4", 150), ("VISp5", 250), ("VISp6a", 250), ("VISp6b", 50),
     ("alv", 100), ("CA1", 250), ("DG-mo", 200), ("SCs", 400), ("SCm", 700), ("APN", 500), ("MRN", 800)),
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """A planned straight insertion (IBL convention: entry point at the brain surface, angles in degrees)."""

    x: float  # (um) ML from bregma
    y: float  # (um) AP from bregma
    z: float  # (um) DV of the entry point
    depth: float  # (um) along the track from the entry point to the tip
    theta: float  # (deg) polar angle from vertical
    phi: float  # (deg) azimuth
    roll: float  # (deg)
    track: int  # index into TRACKS

    def as_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in dataclasses.asdict(self).items()}


def draw_trajectory(rng: np.random.Generator, track: int) -> Trajectory:
    """A plausible planned trajectory for a track."""
    entry = {0: (-1700, -2000), 1: (-1300, 1500), 2: (-3200, -1500), 3: (-2500, -3600)}[track]
    return Trajectory(
        x=float(round(entry[0] + rng.normal(0, 150))),
        y=float(round(entry[1] + rng.normal(0, 150))),
        z=float(round(-rng.uniform(0, 200))),
        depth=float(round(rng.uniform(3700, 4000))),
        theta=15.0,
        phi=180.0,
        roll=0.0,
        track=track,
    )


def perturb(rng: np.random.Generator, planned: Trajectory, scale: float) -> Trajectory:
    """Another estimate of the same insertion (micro-manipulator, histology...), ``scale`` um off."""
    return dataclasses.replace(
        planned,
        x=float(round(planned.x + rng.normal(0, scale))),
        y=float(round(planned.y + rng.normal(0, scale))),
        z=float(round(planned.z + rng.normal(0, scale / 4))),
        depth=float(round(planned.depth + rng.normal(0, scale))),
        theta=round(planned.theta + float(rng.normal(0, 1.0)), 2),
    )


def channel_geometry(traj: Trajectory, region_ids: dict[str, int]) -> dict[str, np.ndarray]:
    """Per channel: local coordinates, raw index, mlapdv (um) and Allen region id along the track."""
    index = np.arange(N_CHANNELS)
    local = np.c_[np.array(SITE_X)[index % 4], SITE_PITCH * (index // 2) + 20.0]
    from_tip = local[:, 1]
    along = traj.depth - from_tip  # (um) distance from the entry point
    theta, phi = np.deg2rad(traj.theta), np.deg2rad(traj.phi)
    direction = np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), -np.cos(theta)])
    mlapdv = np.array([traj.x, traj.y, traj.z]) + along[:, None] * direction
    names, thickness = zip(*TRACKS[traj.track], strict=True)
    bounds = np.cumsum(thickness)
    layer = np.minimum(np.searchsorted(bounds, along, side="right"), len(names) - 1)
    regions = np.array([region_ids[names[i]] for i in layer], dtype=np.int64)
    return {
        "localCoordinates": local,
        "rawInd": index.astype(np.int64),
        "mlapdv": np.round(mlapdv, 1),
        "brainLocationIds_ccf_2017": regions,
    }


def write_probe(
    folder: Path,
    rng: np.random.Generator,
    traj: Trajectory,
    region_ids: dict[str, int],
    stim_on: np.ndarray,
    duration: float,
    pid: uuid.UUID,
    cluster_regions: bool = True,
) -> list[Path]:
    """Write spikes.*, clusters.*, channels.* of one probe into ``folder``; return the files written.

    ``cluster_regions``: also write clusters.brainLocationIds_ccf_2017 and clusters.mlapdv (older
    labs); IBL's own files carry regions per channel only.
    """
    from iblpipe.sources.ids import name_uuid

    folder.mkdir(parents=True, exist_ok=True)
    channels = channel_geometry(traj, region_ids)
    n = int(rng.integers(MIN_CLUSTERS, MAX_CLUSTERS + 1))
    depths = np.sort(rng.uniform(0.0, SITE_PITCH * N_CHANNELS / 2, n))
    ch = np.clip(np.round((depths - 20.0) / SITE_PITCH).astype(np.int64) * 2 + rng.integers(0, 2, n), 0, N_CHANNELS - 1)
    rates = rng.lognormal(np.log(2.0), 1.0, n)  # (Hz)
    scale = min(1.0, MAX_SPIKES_PER_PROBE / (rates.sum() * duration))
    counts = rng.poisson(rates * scale * duration)
    times = [rng.uniform(0.0, duration, c) for c in counts]
    responsive = rng.random(n) < RESPONSIVE_FRACTION
    for k in np.flatnonzero(responsive):  # one extra spike after a random half of the stimuli
        onsets = stim_on[rng.random(stim_on.size) < 0.5]
        times[k] = np.r_[times[k], onsets + rng.normal(RESPONSE_LATENCY, 0.02, onsets.size)]
    cluster_of = np.concatenate([np.full(t.size, k, dtype=np.int64) for k, t in enumerate(times)])
    spike_times = np.concatenate(times)
    order = np.argsort(spike_times, kind="stable")
    spike_times, cluster_of = spike_times[order], cluster_of[order]
    amp_median = rng.lognormal(np.log(70e-6), 0.5, n)
    amps = amp_median[cluster_of] * rng.lognormal(0.0, 0.15, cluster_of.size)
    spike_depths = (depths[cluster_of] + rng.normal(0.0, 8.0, cluster_of.size)).astype(np.float32)
    count = np.bincount(cluster_of, minlength=n)
    sliding_rp = (rng.random(n) < 0.55).astype(np.float64)
    noise_cutoff = rng.lognormal(np.log(3.0), 0.8, n)
    label = ((sliding_rp == 1).astype(float) + (noise_cutoff < MAX_NOISE_CUTOFF) + (amp_median > MIN_AMP_GOOD)) / 3.0
    metrics = pd.DataFrame(
        {
            "cluster_id": np.arange(n, dtype=np.int64),
            "amp_max": amp_median * 1.6,
            "amp_min": amp_median * 0.5,
            "amp_median": amp_median,
            "amp_std_dB": rng.uniform(1.0, 4.0, n),
            "contamination": np.round(rng.beta(1.0, 8.0, n), 4),
            "contamination_alt": np.round(rng.beta(1.0, 8.0, n), 4),
            "drift": rng.lognormal(np.log(20.0), 0.6, n),
            "missed_spikes_est": np.round(rng.beta(1.0, 10.0, n), 4),
            "noise_cutoff": noise_cutoff,
            "presence_ratio": np.round(rng.beta(8.0, 1.5, n), 4),
            "presence_ratio_std": rng.uniform(0.0, 1.0, n),
            "slidingRP_viol": sliding_rp,
            "spike_count": count.astype(np.int64),
            "firing_rate": count / duration,
            "label": np.round(label, 6),
            "ks2_label": np.where(rng.random(n) < 0.45, "good", "mua"),
        }
    )
    files = {
        "spikes.times.npy": spike_times,
        "spikes.clusters.npy": cluster_of.astype(np.uint32),
        "spikes.amps.npy": amps,
        "spikes.depths.npy": spike_depths,
        "clusters.channels.npy": ch,
        "clusters.depths.npy": depths,
        "channels.brainLocationIds_ccf_2017.npy": channels["brainLocationIds_ccf_2017"],
        "channels.mlapdv.npy": channels["mlapdv"],
        "channels.localCoordinates.npy": channels["localCoordinates"],
        "channels.rawInd.npy": channels["rawInd"],
    }
    if cluster_regions:
        files["clusters.brainLocationIds_ccf_2017.npy"] = channels["brainLocationIds_ccf_2017"][ch]
        files["clusters.mlapdv.npy"] = channels["mlapdv"][ch]
    written = []
    for name, values in files.items():
        np.save(folder / name, values)
        written.append(folder / name)
    metrics.to_parquet(folder / "clusters.metrics.pqt", index=False)
    uuids = pd.DataFrame({"uuids": [str(name_uuid("cluster", pid, k)) for k in range(n)]})
    uuids.to_csv(folder / "clusters.uuids.csv", index=False)
    return [*written, folder / "clusters.metrics.pqt", folder / "clusters.uuids.csv"]


# How a probe's sortings sit on disk, as real labs have them (mixed across the demo's probes):
# flat: alf/probeNN/ with clusters.brainLocationIds (an older lab's layout);
# pykilosort: alf/probeNN/pykilosort/, regions per channel only;
# rerun: pykilosort, iblsorter and a later iblsorter revision (IBL reads the revision).
PROBE_LAYOUTS = ("flat", "pykilosort", "rerun")
RERUN_DELAY = 30  # (days) after the session, the iblsorter re-run's revision date


def write_sortings(
    folder: Path,
    rng: np.random.Generator,
    rerun_seed: list[int],
    layout: str,
    revision: str,
    **probe,
) -> list[Path]:
    """Write one probe's sortings in ``layout`` (``PROBE_LAYOUTS``) under ``alf/probeNN``; return the files.

    The first sorting draws from ``rng`` (the mouse's stream); the re-runs from their own
    generators seeded by ``rerun_seed``, so the layout does not change the rest of the lab.
    """
    if layout == "flat":
        return write_probe(folder, rng, **probe)
    files = write_probe(folder / "pykilosort", rng, cluster_regions=False, **probe)
    if layout == "rerun":
        for k, sub in enumerate(("iblsorter", f"iblsorter/#{revision}#")):
            files += write_probe(folder / sub, np.random.default_rng([*rerun_seed, k]), cluster_regions=False, **probe)
    return files
