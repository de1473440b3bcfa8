"""Analyst helpers over the ephys tables: units in a region (one query), a unit's spikes from its files.

Re-exported as ``ephys.units`` and ``ephys.unit_spikes``; the tables are imported when called.
"""

from __future__ import annotations

import logging

import pandas as pd

from iblpipe.schemas import acquisition, reference, subject
from iblpipe.schemas.frames import to_frame

logger = logging.getLogger(__name__)

DEFAULT_SORTING = "ibl_default"  # SortingParams row the per-region tables and these helpers read by default
_COMPLETE: set[str] = set()  # databases whose UnitQuality.RegionUnit was found complete by this process


def units(
    acronym: str | None = None,
    *,
    rule_name: str = "ibl_label",
    good_only: bool = False,
    sorting_params: str = DEFAULT_SORTING,
) -> pd.DataFrame:
    """Units in a region (or any descendant), with their verdict, region, session, subject and lab: one query.

    ``acronym`` is case-sensitive (``CA`` covers CA1, CA2, CA3); None lists every unit that has a region
    (units without one are left out). ``sorting_params`` names the sorting (a ``SortingParams`` row).
    Reads ``UnitQuality.RegionUnit`` (a region's units are one range of its key) with the region,
    insertion, session and subject columns filled in by key (``schemas.lookups``).
    """
    from iblpipe.schemas.ephys import ProbeInsertion, UnitQuality

    _check_copies(UnitQuality)
    unit = UnitQuality.RegionUnit & {"rule_name": rule_name, "sorting_params": sorting_params}
    if good_only:
        unit = unit & {"is_good": 1}
    if acronym is not None:
        unit = unit & region_ids_restriction(acronym)
    insertion = (
        ProbeInsertion.proj("session_uuid", "probe_name")
        * acquisition.Session.proj("subject_uuid", "session_lab", "session_start_time", "session_number")
        * subject.Subject.proj("subject_nickname")
    )
    query = unit * reference.BrainRegion.proj("acronym", "brain_region_name") * insertion
    return to_frame(query, index=False)


def _check_copies(table) -> None:
    """Warn (each call, until fixed) when UnitQuality rows made before ``RegionUnit`` existed lack their copies:
    ``units()`` would leave their insertions out. Checked once per process and database once complete."""
    if table.database in _COMPLETE:
        return
    from iblpipe.schemas.ephys.sortings import missing_region_units

    missing = len(missing_region_units())
    if missing:
        logger.warning(
            "%d UnitQuality row(s) have no UnitQuality.RegionUnit copies (made before they existed): ephys.units() "
            "leaves their units out until an administrator runs `iblpipe db migrate`",
            missing,
        )
    else:
        _COMPLETE.add(table.database)


def region_ids_restriction(acronym: str) -> str | list:
    """``brain_region_id IN (...)`` of the region ``acronym`` and its descendants; an empty list (no row) for none.

    Constants, not a subquery: the server then reads each id's range of a region-keyed table by
    index dives, whatever its statistics say (a subquery lets stale statistics pick a full scan).
    """
    targets = (reference.BrainRegion & {"acronym": acronym}).proj(ancestor_id="brain_region_id")
    ids = sorted({int(i) for i in (reference.BrainRegion.Ancestor & targets).to_arrays("brain_region_id")})
    return f"brain_region_id IN ({','.join(map(str, ids))})" if ids else []


def unit_spikes(key: dict, attributes: tuple[str, ...] = ("times", "amps", "depths")) -> dict:
    """Spikes of one unit (``probe_insertion_uuid``, ``cluster_id``, optional ``sorting_params``), read on demand.

    Read from the collection and revision its ``Clusters`` row was imported from.
    """
    from iblpipe.schemas.ephys import Clusters
    from iblpipe.schemas.files import imported_sorting
    from iblpipe.sources.ephys import load_unit_spikes

    key = {"sorting_params": DEFAULT_SORTING, **key}
    cluster_id = int((Clusters.Cluster & key).fetch1("cluster_id"))
    return load_unit_spikes(imported_sorting(key), cluster_id, attributes)
