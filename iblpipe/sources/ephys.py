"""Spike-sorting ALF files of one probe (``alf/<probe>/spikes.*``, ``clusters.*``), read with ``one.alf.io``."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import numpy as np

from iblpipe.errors import DataError
from iblpipe.sources.alf import load_object, session_path
from iblpipe.sources.locate import Located, object_of

logger = logging.getLogger(__name__)

SPIKE_ATTRIBUTES = ("times", "clusters", "amps", "depths")
# ALF attribute names; brainLocationIds carries the timescale part ccf_2017 (key brainLocationIds_ccf_2017).
CLUSTER_ATTRIBUTES = ("channels", "depths", "metrics", "brainLocationIds", "mlapdv", "uuids")
REQUIRED_CLUSTER_ATTRIBUTES = ("channels", "depths", "metrics")
CHANNEL_ATTRIBUTES = ("brainLocationIds", "mlapdv", "localCoordinates", "rawInd")
REGION_KEY = "brainLocationIds_ccf_2017"  # per-channel (or per-cluster, older layouts) Allen CCF 2017 id

Source = str | os.PathLike | Located  # a probe folder, or a located spike sorting (collection + revision)


def probe_path(
    root: str | os.PathLike, lab: str, subject: str, date: dt.date | str, number: int, probe_name: str
) -> Path:
    """The probe collection ``<session>/alf/<probe_name>`` (without sorter folder)."""
    return session_path(root, lab, subject, date, number) / "alf" / probe_name


def _files(source, obj: str, attributes: tuple[str, ...]) -> tuple[Path, list[Path]]:
    """The folder to name in errors and the files of ``obj`` with one of ``attributes``."""
    if isinstance(source, Located):
        where, files = source.folder, source.files(obj)
    else:
        where = Path(source)
        if not where.is_dir():
            raise DataError(f"{where}: probe folder not found")
        files = [f for f in where.iterdir() if f.is_file() and object_of(f.name) == obj]
    return where, [f for f in files if f.name.split(".")[1].split("_")[0] in attributes]


def _load(source, obj: str, attributes: tuple[str, ...], required: tuple[str, ...]) -> dict:
    """``one.alf.io.load_object`` restricted to ``attributes``; DataError naming the missing or damaged file."""
    where, files = _files(source, obj, attributes)
    if not files:
        if not required:
            return {}
        raise DataError(f"{where}: no {obj}.* files (need {', '.join(f'{obj}.{a}' for a in required)})")
    out = load_object(files, obj, short_keys=True)
    for attribute in required:
        if out.get(attribute) is None:
            raise DataError(f"{where / (obj + '.' + attribute)}: file missing or empty (field {obj}.{attribute})")
    return out


def load_spikes(source: Source, attributes: tuple[str, ...] = SPIKE_ATTRIBUTES) -> dict[str, np.ndarray]:
    """``spikes.<attribute>`` arrays of a probe folder or located sorting."""
    return _load(source, "spikes", tuple(attributes), tuple(attributes))


def load_clusters(source: Source) -> dict:
    """``clusters.*`` of a probe folder or located sorting; ``metrics`` is the clusters.metrics.pqt DataFrame.

    Region ids, mlapdv and uuids are optional (absent before histology alignment).
    """
    return _load(source, "clusters", CLUSTER_ATTRIBUTES, REQUIRED_CLUSTER_ATTRIBUTES)


def load_channels(source: Source) -> dict:
    """``channels.*`` of a sorting (region ids, mlapdv, local coordinates, raw index); {} when there are none."""
    return _load(source, "channels", CHANNEL_ATTRIBUTES, ())


def place_units(clusters: dict, channels: dict, where: str | os.PathLike) -> tuple[dict, str]:
    """Regions and coordinates of the units, as ``brainbox.io.one.SpikeSortingLoader.merge_clusters`` assigns them.

    A unit takes the region and mlapdv of its peak channel (``clusters.channels`` indexes the
    ``channels.*`` arrays); a lab whose clusters carry ``clusters.brainLocationIds_ccf_2017``
    and no channel regions keeps those. Returns the clusters with ``brainLocationIds_ccf_2017``
    and ``mlapdv`` set (or removed) and where the regions came from: ``channels``, ``clusters``
    or "" (channels exist but are not aligned to the atlas yet).

    Raises
    ------
    DataError
        Naming file and field: no channel files and no cluster regions, or a cluster's
        channel outside the channels arrays.
    """
    where = Path(where)
    out = dict(clusters)
    if REGION_KEY in channels:
        regions = np.asarray(channels[REGION_KEY])
        index = np.asarray(clusters["channels"]).astype(np.int64)
        if index.size and (index.min() < 0 or index.max() >= regions.size):
            raise DataError(
                f"{where / 'clusters.channels.npy'}: channel indices up to {index.max()} (field clusters.channels), "
                f"but {where / 'channels.brainLocationIds_ccf_2017.npy'} has {regions.size} channels"
            )
        out[REGION_KEY] = regions[index]
        out["mlapdv"] = np.asarray(channels["mlapdv"])[index] if "mlapdv" in channels else None
        return out, "channels"
    if clusters.get(REGION_KEY) is not None:
        return out, "clusters"
    if not channels:
        raise DataError(
            f"{where}: no channels.* files (fields channels.brainLocationIds_ccf_2017, channels.localCoordinates) "
            f"and no clusters.brainLocationIds_ccf_2017: cannot place the units"
        )
    out.pop(REGION_KEY, None)
    out.pop("mlapdv", None)
    return out, ""


def load_unit_spikes(
    source: Source, cluster_id: int, attributes: tuple[str, ...] = ("times", "amps", "depths")
) -> dict[str, np.ndarray]:
    """Spikes of one cluster: ``{attribute: array}`` for the spikes whose ``spikes.clusters == cluster_id``."""
    spikes = load_spikes(source, ("clusters", *attributes))
    mask = spikes.pop("clusters") == cluster_id
    return {name: values[mask] for name, values in spikes.items()}


# Task events a PSTH can align to: event name -> trials attribute. stimOn and feedback are required.
TRIAL_EVENTS = {"stimOn": "stimOn_times", "feedback": "feedback_times", "firstMovement": "firstMovement_times"}
REQUIRED_TRIAL_EVENTS = ("stimOn", "feedback")


def load_trial_events(source: str | os.PathLike | Located) -> dict[str, np.ndarray]:
    """Event times per trial from ``_ibl_trials.*`` (the table.pqt or per-attribute files) of a collection.

    ``source`` is a folder (``<session>/alf``) or a located trials collection (``locate.trials``).
    Returns ``{event: times}`` for the events of ``TRIAL_EVENTS`` present;
    DataError naming the folder and field when a required one is missing.
    """
    path = source.folder if isinstance(source, Located) else Path(source)
    files = source.files("trials") if isinstance(source, Located) else []
    if not isinstance(source, Located) and path.is_dir():
        files = [f for f in path.iterdir() if f.is_file() and object_of(f.name) == "trials"]
    if not files:
        raise DataError(f"{path}: no trials files (_ibl_trials.table.pqt or _ibl_trials.*.npy)")
    trials = load_object(files, "trials", short_keys=True)
    events = {event: np.asarray(trials[attr], dtype=float) for event, attr in TRIAL_EVENTS.items() if attr in trials}
    for event in REQUIRED_TRIAL_EVENTS:
        if event not in events:
            raise DataError(f"{path / '_ibl_trials.table.pqt'}: field {TRIAL_EVENTS[event]} missing")
    return events
