"""Peri-event time histograms of units around task events (brainbox's ``calculate_peths``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# brainbox.singlecell.calculate_peths defaults
DEFAULT_PRE_TIME = 0.2  # (s) window before the event
DEFAULT_POST_TIME = 0.5  # (s) window after the event
DEFAULT_BIN_SIZE = 0.025  # (s) histogram bin width
DEFAULT_SMOOTHING = 0.025  # (s) sd of the Gaussian smoothing kernel; 0 = none


@dataclass(frozen=True)
class Psth:
    """Trial-averaged firing rates of several units around one event."""

    cluster_ids: np.ndarray  # (index) sorted unit ids, one row of mean/std each
    bin_times: np.ndarray  # (s) bin centres relative to the event
    mean: np.ndarray  # (Hz) n_units x n_bins
    std: np.ndarray  # (Hz) n_units x n_bins, across trials
    n_events: int  # (count) events with a time (NaN event times are dropped)


def trial_psth(
    spike_times: np.ndarray,
    spike_clusters: np.ndarray,
    cluster_ids: np.ndarray,
    event_times: np.ndarray,
    *,
    pre_time: float = DEFAULT_PRE_TIME,
    post_time: float = DEFAULT_POST_TIME,
    bin_size: float = DEFAULT_BIN_SIZE,
    smoothing: float = DEFAULT_SMOOTHING,
) -> Psth:
    """PSTH of ``cluster_ids`` aligned to ``event_times`` (trials without the event, NaN, are left out).

    Raises ValueError naming the field when spikes arrays differ in length, no
    event has a time, or a parameter is not positive.
    """
    from brainbox.singlecell import calculate_peths

    spike_times = np.asarray(spike_times, dtype=float)
    spike_clusters = np.asarray(spike_clusters)
    if spike_times.shape != spike_clusters.shape:
        raise ValueError(
            f"spikes.times ({spike_times.size}) and spikes.clusters ({spike_clusters.size}) differ in length"
        )
    for name, value in (("pre_time", pre_time), ("post_time", post_time), ("bin_size", bin_size)):
        if not value > 0:
            raise ValueError(f"{name}: must be > 0, got {value}")
    events = np.asarray(event_times, dtype=float)
    events = events[~np.isnan(events)]
    if not events.size:
        raise ValueError("event_times: no trial has a time for this event")
    ids = np.unique(np.asarray(cluster_ids))
    peths, _ = calculate_peths(
        spike_times, spike_clusters, ids, events, pre_time, post_time, bin_size, smoothing, return_fr=True
    )
    return Psth(ids, np.asarray(peths["tscale"]), np.asarray(peths["means"]), np.asarray(peths["stds"]), events.size)
