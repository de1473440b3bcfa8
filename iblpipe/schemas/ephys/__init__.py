"""Electrophysiology: probe insertions, trajectories, clusters, per-region units.

One schema, split by what the tables hold: ``probes`` (insertions, trajectories), ``sortings``
(spike sortings, clusters, unit quality, per-region units), ``psth``. Every table and the analyst
helpers ``units(acronym)`` and ``unit_spikes(key)`` are importable from here.
"""

from iblpipe.schemas.ephys._schema import schema
from iblpipe.schemas.ephys.probes import ProbeInsertion, ProbeTrajectory
from iblpipe.schemas.ephys.psth import DEFAULT_PSTH, PsthParams, TrialPSTH
from iblpipe.schemas.ephys.sortings import (
    Clusters,
    GoodUnitRule,
    RegionRollup,
    RegionUnits,
    SortingParams,
    UnitQuality,
)
from iblpipe.schemas.units_query import DEFAULT_SORTING, unit_spikes, units

__all__ = [
    "schema",
    "ProbeInsertion",
    "ProbeTrajectory",
    "SortingParams",
    "Clusters",
    "GoodUnitRule",
    "UnitQuality",
    "RegionRollup",
    "RegionUnits",
    "PsthParams",
    "TrialPSTH",
    "DEFAULT_PSTH",
    "DEFAULT_SORTING",
    "units",
    "unit_spikes",
]
