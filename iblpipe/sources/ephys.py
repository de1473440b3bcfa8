"""Spike-sorting ALF files of one probe (``alf/<probe>/spikes.*``, ``clusters.*``), read with ``one.alf.io``."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import numpy as np

from iblpipe.errors import DataError
from iblpipe.sources.alf import session_path

logger = logging.getLogger(__name__)

SPIKE_ATTRIBUTES = ("times", "clusters", "amps", "depths")
# ALF attribute names; brainLocationIds carries the timescale part ccf_2017 (key brainLocationIds_ccf_2017).
CLUSTER_ATTRIBUTES = ("channels", "depths", "metrics", "brainLocationIds", "mlapdv", "uuids")
REQUIRED_CLUSTER_ATTRIBUTES = ("channels", "depths", "metrics")


def probe_path(
    root: str | os.PathLike, lab: str, subject: str, date: dt.date | str, number: int, probe_name: str
) -> Path:
    """The probe collection ``<session>/alf/<probe_name>``."""
    return session_path(root, lab, subject, date, number) / "alf" / probe_name


def _load(path: Path, obj: str, attributes: tuple[str, ...], required: tuple[str, ...]) -> dict:
    """``one.alf.io.load_object`` restricted to ``attributes``; DataError naming the missing file."""
    import one.alf.io as alfio
    from one.alf.exceptions import ALFObjectNotFound

    if not path.is_dir():
        raise DataError(f"{path}: probe folder not found")
    try:
        bunch = alfio.load_object(path, obj, attribute=list(attributes), short_keys=True)
    except ALFObjectNotFound:
        raise DataError(f"{path}: no {obj}.* files (need {', '.join(f'{obj}.{a}' for a in required)})") from None
    out = dict(bunch.items())
    for attribute in required:
        if out.get(attribute) is None:
            raise DataError(f"{path / (obj + '.' + attribute)}: file missing or empty (field {obj}.{attribute})")
    return out


def load_spikes(path: str | os.PathLike, attributes: tuple[str, ...] = SPIKE_ATTRIBUTES) -> dict[str, np.ndarray]:
    """``spikes.<attribute>`` arrays of a probe folder."""
    return _load(Path(path), "spikes", tuple(attributes), tuple(attributes))


def load_clusters(path: str | os.PathLike) -> dict:
    """``clusters.*`` of a probe folder; ``metrics`` is the clusters.metrics.pqt DataFrame.

    Region ids, mlapdv and uuids are optional (absent before histology alignment).
    """
    return _load(Path(path), "clusters", CLUSTER_ATTRIBUTES, REQUIRED_CLUSTER_ATTRIBUTES)


def load_unit_spikes(
    path: str | os.PathLike, cluster_id: int, attributes: tuple[str, ...] = ("times", "amps", "depths")
) -> dict[str, np.ndarray]:
    """Spikes of one cluster: ``{attribute: array}`` for the spikes whose ``spikes.clusters == cluster_id``."""
    spikes = load_spikes(path, ("clusters", *attributes))
    mask = spikes.pop("clusters") == cluster_id
    return {name: values[mask] for name, values in spikes.items()}


# Task events a PSTH can align to: event name -> trials attribute. stimOn and feedback are required.
TRIAL_EVENTS = {"stimOn": "stimOn_times", "feedback": "feedback_times", "firstMovement": "firstMovement_times"}
REQUIRED_TRIAL_EVENTS = ("stimOn", "feedback")


def load_trial_events(alf_folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Event times per trial from ``<session>/alf/_ibl_trials.*`` (the table.pqt or per-attribute files).

    Returns ``{event: times}`` for the events of ``TRIAL_EVENTS`` present;
    DataError naming the folder and field when a required one is missing.
    """
    import one.alf.io as alfio
    from one.alf.exceptions import ALFObjectNotFound

    path = Path(alf_folder)
    try:
        trials = alfio.load_object(path, "trials", short_keys=True)
    except ALFObjectNotFound:
        raise DataError(f"{path}: no trials files (_ibl_trials.table.pqt or _ibl_trials.*.npy)") from None
    events = {event: np.asarray(trials[attr], dtype=float) for event, attr in TRIAL_EVENTS.items() if attr in trials}
    for event in REQUIRED_TRIAL_EVENTS:
        if event not in events:
            raise DataError(f"{path / '_ibl_trials.table.pqt'}: field {TRIAL_EVENTS[event]} missing")
    return events
