"""Analyst helpers over the ephys tables: units in a region (one query), a unit's spikes from its files.

Re-exported as ``ephys.units`` and ``ephys.unit_spikes``; the tables are imported when called.
"""

from __future__ import annotations

import pandas as pd

from iblpipe.schemas import acquisition, reference, subject
from iblpipe.schemas.frames import to_frame

DEFAULT_SORTING = "ibl_default"  # SortingParams row the per-region tables and these helpers read by default


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
    Built with ``frames.to_frame`` (5x faster than ``to_pandas``).
    """
    from iblpipe.schemas.ephys import Clusters, ProbeInsertion, UnitQuality

    cluster = Clusters.Cluster * (UnitQuality.Unit & {"rule_name": rule_name, "sorting_params": sorting_params})
    if good_only:
        cluster = cluster & {"is_good": 1}
    if acronym is not None:
        targets = (reference.BrainRegion & {"acronym": acronym}).proj(ancestor_id="brain_region_id")
        cluster = cluster & (reference.BrainRegion.Ancestor & targets)
    query = (
        cluster
        * reference.BrainRegion.proj("acronym", "brain_region_name")
        * ProbeInsertion.proj("session_uuid", "probe_name")
        * acquisition.Session.proj("subject_uuid", "session_lab", "session_start_time", "session_number")
        * subject.Subject.proj("subject_nickname")
    )
    return to_frame(query, index=False)


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
