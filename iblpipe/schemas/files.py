"""Where a row's ALF files are: one query for the row's session, then the rules of ``sources.locate``."""

from __future__ import annotations

import logging
from pathlib import Path

from iblpipe.schemas import acquisition, subject

logger = logging.getLogger(__name__)


def session_folder(key: dict) -> Path:
    """The ALF session folder ``<root>/<lab>/Subjects/<subject>/<date>/<NNN>`` of the session of ``key``."""
    from iblpipe import settings
    from iblpipe.sources.alf import require_root
    from iblpipe.sources.locate import session_folder as folder

    row = (
        ((acquisition.Session & key) * subject.Subject.proj("subject_nickname"))
        .proj("session_lab", "subject_nickname", "session_start_time", "session_number")
        .fetch1()
    )
    return folder(
        require_root(settings.data_root()),
        row["session_lab"],
        row["subject_nickname"],
        row["session_start_time"].date(),
        row["session_number"],
    )


def probe_sorting(key: dict):
    """The spike sorting (``sources.locate.Located``) that the ``SortingParams`` of ``key`` choose for its insertion.

    ``key`` holds ``probe_insertion_uuid`` and ``sorting_params``.
    """
    from iblpipe.schemas import ephys
    from iblpipe.sources.locate import spike_sorting

    probe = (ephys.ProbeInsertion & key).fetch1()
    params = (ephys.SortingParams & key).fetch1()
    return spike_sorting(session_folder(probe), probe["probe_name"], params["spike_sorter"], params["max_revision"])


def imported_sorting(key: dict):
    """The spike sorting a ``Clusters`` row was imported from (its session, collection and revision)."""
    from iblpipe.schemas import ephys
    from iblpipe.sources.locate import Located

    row = (ephys.Clusters * ephys.SortingParams.proj("max_revision") & key).fetch1()
    probe = (ephys.ProbeInsertion & key).fetch1()
    defaults = row["max_revision"] is None  # no revision asked: a ONE cache's default revisions
    return Located(session_folder(probe), row["collection"], row["revision"], row["spike_sorter"], defaults)


def read_sorting(sorting) -> tuple:
    """``(sorting, ClusterTable, region_source)`` of one located sorting; DataError naming the folder."""
    from iblpipe.compute.units import cluster_table
    from iblpipe.errors import DataError
    from iblpipe.sources.ephys import load_channels, load_clusters, load_spikes, place_units

    spikes = load_spikes(sorting, ("times", "clusters", "amps"))
    clusters, region_source = place_units(load_clusters(sorting), load_channels(sorting), sorting.folder)
    if not region_source:
        logger.warning(
            "%s: channels.* have no brainLocationIds_ccf_2017 (not aligned to the atlas yet): "
            "importing its %d units without regions",
            sorting.folder,
            len(clusters["channels"]),
        )
    try:
        table = cluster_table(spikes["times"], spikes["clusters"], spikes["amps"], clusters)
    except ValueError as err:
        raise DataError(f"{sorting.folder}: {err}") from None
    return sorting, table, region_source


def check_regions(sorting, ids, region_source: str) -> None:
    """DataError naming the region file and field when some region id is not in the Allen CCF 2017 ontology."""
    from iblpipe.errors import DataError
    from iblpipe.schemas import reference

    if not len(ids):
        return
    known = (reference.BrainRegion & [{"brain_region_id": int(i)} for i in ids]).to_arrays("brain_region_id")
    unknown = sorted(set(int(i) for i in ids) - set(int(i) for i in known))
    if unknown:
        obj = "channels" if region_source == "channels" else "clusters"
        raise DataError(
            f"{sorting.folder / (obj + '.brainLocationIds_ccf_2017.npy')}: region ids {unknown[:5]} "
            "(field brainLocationIds_ccf_2017) are not in the Allen CCF 2017 ontology"
        )


def stale_sortings(restriction=None) -> list[tuple[dict, str, str]]:
    """``Clusters`` rows whose ``SortingParams`` now choose another collection or revision (``sources.locate``).

    Returns ``(key, imported, now)`` per stale row, ``imported`` and ``now`` as
    ``collection#revision#``. A probe whose files are gone entirely is not stale (nothing to follow).
    """
    from iblpipe import settings
    from iblpipe.errors import DataError
    from iblpipe.schemas import ephys
    from iblpipe.schemas.frames import to_frame
    from iblpipe.sources.alf import require_root
    from iblpipe.sources.locate import session_folder as folder
    from iblpipe.sources.locate import spike_sorting

    query = (
        ephys.Clusters.proj("collection", "revision")
        * ephys.ProbeInsertion.proj("probe_name", "session_uuid")
        * ephys.SortingParams.proj("spike_sorter", "max_revision")
        * acquisition.Session.proj("session_lab", "session_start_time", "session_number")
        * subject.Subject.proj("subject_nickname")
    )
    rows = to_frame(query if restriction is None else query & restriction, index=False)
    root = require_root(settings.data_root()) if len(rows) else None
    stale = []
    for row in rows.itertuples(index=False):
        day = row.session_start_time.date()
        session = folder(root, row.session_lab, row.subject_nickname, day, row.session_number)
        try:
            now = spike_sorting(session, row.probe_name, row.spike_sorter, row.max_revision)
        except DataError:
            continue
        if (now.collection, now.revision) != (row.collection, row.revision):
            key = {"probe_insertion_uuid": row.probe_insertion_uuid, "sorting_params": row.sorting_params}
            stale.append((key, f"{row.collection}#{row.revision}#", f"{now.collection}#{now.revision}#"))
    return stale


def follow_new_sortings(restriction=None) -> list[dict]:
    """Delete the ``Clusters`` rows (and everything computed from them) whose sorting is no longer the chosen one.

    A newer revision on disk (or, in a ONE cache, a new default revision in ``datasets.pqt``) or a
    new preferred sorter folder makes a row stale. The next ``Clusters.populate()`` imports the sorting the rules now choose. Returns the deleted keys.
    """
    from iblpipe.schemas import ephys

    stale = stale_sortings(restriction)
    for key, imported, now in stale:
        logger.info(
            "insertion %s (%s): %s replaced by %s; deleting its rows and those computed from them",
            key["probe_insertion_uuid"],
            key["sorting_params"],
            imported,
            now,
        )
    keys = [key for key, _, _ in stale]
    if keys:
        (ephys.Clusters & keys).delete(prompt=False, part_integrity="cascade")
    return keys
