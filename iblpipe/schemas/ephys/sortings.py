"""Spike sortings, their clusters, unit quality and the per-region unit tables (issues 6, 14)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from iblpipe.compute.params import content_hash
from iblpipe.compute.units import IBL_LABEL_RULE, KS2_GOOD_RULE
from iblpipe.schemas import acquisition, columnar, reference, subject  # noqa: F401  (named in table definitions)
from iblpipe.schemas.ephys._schema import schema
from iblpipe.schemas.ephys.probes import ProbeInsertion, ProbeTrajectory  # noqa: F401  (named in definitions)
from iblpipe.schemas.frames import null_records
from iblpipe.schemas.units_query import DEFAULT_SORTING

logger = logging.getLogger(__name__)

MAX_UNITS_NAMED = 5  # (count) unit ids an error message lists before saying how many in all
FLOAT_COLUMN = re.compile(r":\s*float32\b")  # a FLOAT attribute's type in a definition line


@schema
class SortingParams(columnar.Lookup):
    """One way of choosing a probe's spike sorting: a requested sorter and a latest revision (IBL's rules)."""

    definition = """
    # which spike sorting to import; add a row to import another sorting next to the default
    sorting_params : varchar(32)        # name, e.g. ibl_default
    ---
    spike_sorter = null : varchar(32)   # requested sorter folder, e.g. pykilosort; empty for alf/probe itself; null: IBL default
    max_revision = null : varchar(32)   # (YYYY-MM-DD) latest revision considered; null: the latest on disk
    sorting_description = "" : varchar(255)  # what the choice means
    """

    contents = [
        {
            "sorting_params": DEFAULT_SORTING,
            "spike_sorter": None,
            "max_revision": None,
            "sorting_description": "SpikeSortingLoader default: iblsorter, then pykilosort, else the shortest "
            "collection; latest revision",
        }
    ]


@schema
class Clusters(columnar.Imported):
    """One spike sorting of one probe insertion, summarised from its ALF files."""

    definition = """
    # clusters of an insertion, from the spikes.* clusters.* channels.* of the sorting its SortingParams choose
    -> ProbeInsertion
    -> SortingParams
    ---
    spike_sorter : varchar(32)      # sorter folder read: iblsorter, pykilosort, a custom name; empty for alf/probe
    revision : varchar(32)          # (YYYY-MM-DD) revision read, the newest of the sorting files; empty for none
    collection : varchar(255)       # ALF collection read, e.g. alf/probe00/pykilosort
    n_clusters : int32              # (count) clusters of the sorting
    n_spikes : int64                # (count) spikes of all clusters
    recording_duration : float64    # (s) last minus first spike time of the probe; denominator of firing rates
    has_regions : bool              # some cluster has a brain region
    region_source : varchar(16)     # channels (channels.brainLocationIds_ccf_2017 through clusters.channels), clusters, or empty: not aligned yet
    """

    class Cluster(columnar.Part):
        """One unit (cluster) of a sorting: position, amplitude, rate, IBL metrics, brain region."""

        definition = """
        # one unit
        -> master
        cluster_id : int32                  # (index) row of the clusters.* arrays
        ---
        cluster_uuid = null : uuid          # clusters.uuids
        depth = null : float32              # (um) along the probe, from the tip; null for a unit without spikes (phylib)
        channel : int16                     # (index) peak channel
        amp_median = null : float32         # (V) geometric median of spikes.amps, as IBL; null for a unit without spikes
        firing_rate : float32               # (Hz) n_spikes / recording_duration of the probe
        n_spikes : int32                    # (count) spikes of the unit
        label = null : float32              # (fraction) IBL criteria passed (clusters.metrics label); 1 = good
        ks2_label = null : varchar(16)      # Kilosort label: good or mua
        contamination = null : float32      # (fraction) refractory-period contamination estimate
        contamination_alt = null : float32  # (fraction) alternative contamination estimate
        presence_ratio = null : float32     # (fraction) of 10 s windows with spikes
        sliding_rp_viol = null : float32    # (0 or 1) sliding refractory-period test failed
        noise_cutoff = null : float32       # (a.u.) amplitude-distribution cutoff statistic
        drift = null : float32              # (um/h) cumulative depth drift
        -> [nullable] reference.BrainRegion
        ml = null : float32                 # (um) medio-lateral coordinate from bregma
        ap = null : float32                 # (um) antero-posterior coordinate from bregma
        dv = null : float32                 # (um) dorso-ventral coordinate from bregma
        """

    def make_fetch(self, key):
        from iblpipe.schemas.files import probe_sorting

        reference.BrainRegion.ensure_loaded()  # a no-op after the first insertion of a fresh pipeline
        sorting = probe_sorting(key)
        return str(sorting.session), sorting.collection, sorting.revision, sorting.sorter, sorting.defaults

    def make_compute(self, key, session, collection, revision, sorter, defaults):
        from iblpipe.schemas.files import read_sorting
        from iblpipe.sources.locate import Located

        return read_sorting(Located(Path(session), collection, revision, sorter, defaults))

    def make_insert(self, key, sorting, table, region_source):
        from iblpipe.schemas.files import check_regions

        unit_rows = table.units
        ids = unit_rows["brain_region_id"].dropna().unique()
        check_regions(sorting, ids, region_source)
        self.insert1(
            dict(
                key,
                spike_sorter=sorting.sorter,
                revision=sorting.revision,
                collection=sorting.collection,
                n_clusters=len(unit_rows),
                n_spikes=table.n_spikes,
                recording_duration=table.recording_duration,
                has_regions=bool(len(ids)),
                region_source=region_source,
            )
        )
        insert_units(self.Cluster, null_records(unit_rows.assign(**key)), sorting.folder)


def insert_units(part, rows: list[dict], folder: Path) -> None:
    """Insert one probe's unit rows; a unit the table cannot hold raises DataError naming the folder and unit.

    A NULL (NaN in the ALF files) in a column that must have a value names the units and the column;
    any other refusal of the insert names the folder and the database's reason. A transient failure
    (lost connection, deadlock) propagates as it is, for the worker to retry.
    """
    from iblpipe.errors import DataError
    from iblpipe.populate.transient import is_transient

    required = [a.name for a in part.heading.attributes.values() if not a.in_key and not a.nullable]
    for name in required:
        units = [row["cluster_id"] for row in rows if row.get(name) is None]
        if units:
            raise DataError(
                f"{folder}: units {units[:MAX_UNITS_NAMED]} ({len(units)} in all) have no {name} "
                "(NaN or missing in the clusters.* files); fix the sorting's files or re-export them"
            )
    try:
        part.insert(rows)
    except Exception as err:
        if is_transient(err):
            raise
        raise DataError(f"{folder}: its {len(rows)} units could not be inserted ({type(err).__name__}: {err})") from err


def unit_copy_columns(definition: str) -> str:
    """The secondary attribute lines of ``definition`` but its foreign keys, float32 declared float64."""
    lines = definition.split("---", 1)[1].strip().splitlines()
    kept = [line.strip() for line in lines if line.strip() and not line.strip().startswith("->")]
    return "\n        ".join(FLOAT_COLUMN.sub(": float64", line, count=1) for line in kept)


def region_unit_rows(restriction):
    """The ``UnitQuality.RegionUnit`` rows of units with a region matching ``restriction``, as a query to insert
    server-side: FLOAT columns as the double of the text the server prints for them."""
    copy = Clusters.Cluster * UnitQuality.Unit & restriction & "brain_region_id IS NOT NULL"
    floats = [name for name, attr in Clusters.Cluster.heading.attributes.items() if attr.type.startswith("float")]
    kept = [name for name in UnitQuality.RegionUnit.heading.secondary_attributes if name not in floats]
    return copy.proj("brain_region_id", *kept, **{name: f"CAST(CAST({name} AS CHAR) AS DOUBLE)" for name in floats})


def missing_region_units():
    """UnitQuality rows of insertions with regions that have no ``RegionUnit`` copies (made before the copy existed)."""
    return (UnitQuality.proj() & (Clusters & {"has_regions": 1})) - UnitQuality.RegionUnit.proj()


def fill_region_units() -> int:
    """Copy the units of :func:`missing_region_units` into ``UnitQuality.RegionUnit`` (one server-side statement);
    returns how many UnitQuality rows were filled."""
    missing = missing_region_units()
    count = len(missing)
    if count:
        UnitQuality.RegionUnit.insert(region_unit_rows(missing), allow_direct_insert=True)
    return count


@schema
class GoodUnitRule(columnar.Lookup):
    """One rule deciding which units are good: a named set of criteria on unit metrics."""

    definition = """
    # good-unit rule: a unit is good when it passes every criterion
    rule_name : varchar(32)             # e.g. ibl_label
    ---
    rule_hash : uuid                    # content hash of criteria; a changed rule needs a new name
    criteria : json                     # metric: min, max or equals threshold, e.g. label min 1
    rule_description = "" : varchar(255)  # what the rule means
    unique index (rule_hash)
    """

    contents = [
        {
            "rule_name": "ibl_label",
            "rule_hash": content_hash(IBL_LABEL_RULE),
            "criteria": IBL_LABEL_RULE,
            "rule_description": "IBL default: metrics label == 1 (contamination, noise cutoff, amplitude all pass)",
        },
        {
            "rule_name": "ks2_good",
            "rule_hash": content_hash(KS2_GOOD_RULE),
            "criteria": KS2_GOOD_RULE,
            "rule_description": "Kilosort2 label good",
        },
    ]


@schema
class UnitQuality(columnar.Computed):
    """One insertion judged by one good-unit rule (its units' verdicts are in the Part)."""

    definition = """
    # good units of an insertion under a rule
    -> Clusters
    -> GoodUnitRule
    ---
    n_units : int32     # (count) units judged
    n_good : int32      # (count) units passing every criterion
    """

    class Unit(columnar.Part):
        """One unit's verdict under the rule, with the criteria it failed."""

        definition = """
        # verdict of one unit
        -> master
        -> Clusters.Cluster
        ---
        is_good : bool                      # passes every criterion of the rule
        failed_criteria : varchar(255)      # comma-separated failed criteria; empty when good
        """

    class RegionUnit(columnar.Part):
        """A unit that has a brain region, with its metrics and verdict, in region order: what ``ephys.units`` reads."""

        # The clustered key starts with rule, sorting and region: a region's units are one range
        # read, no join (the key of Unit starts with the insertion, so a region's units there are
        # one random lookup each, twice: 60 ms of server time for 20 k units). FLOAT metrics are
        # held as the double the server prints for them (what a client reads from Cluster): no
        # conversion on read.
        definition = f"""
        # copy of a unit with a region and its verdict, keyed by rule, sorting and region first
        -> GoodUnitRule
        -> SortingParams
        -> reference.BrainRegion
        -> master
        -> Clusters.Cluster
        ---
        is_good : bool                      # passes every criterion of the rule
        failed_criteria : varchar(255)      # comma-separated failed criteria; empty when good
        {unit_copy_columns(Clusters.Cluster.definition)}
        """

    def make(self, key):
        from iblpipe.compute.units import RULE_METRICS, apply_rule

        criteria = (GoodUnitRule & key).fetch1("criteria")
        unit_rows = (Clusters.Cluster & key).to_pandas().reset_index()
        columns = [c for c in RULE_METRICS if c in unit_rows.columns]
        verdict = apply_rule(unit_rows[["cluster_id", *columns]], criteria)
        self.insert1(dict(key, n_units=len(unit_rows), n_good=int(verdict.is_good.sum())))
        self.Unit.insert(
            pd.DataFrame(
                {
                    **{k: [v] * len(unit_rows) for k, v in key.items()},
                    "cluster_id": unit_rows["cluster_id"].to_numpy(),
                    "is_good": verdict.is_good,
                    "failed_criteria": verdict.failed,
                }
            )
        )
        self.RegionUnit.insert(region_unit_rows(key))


@schema
class RegionRollup(columnar.Computed):
    """One insertion under one good-unit rule, rolled up to brain regions (the regions are in the Part)."""

    definition = """
    # per-region unit counts of an insertion and rule; query them as ephys.RegionUnits
    -> UnitQuality
    ---
    n_regions : int32                       # (count) regions (with ancestors) that hold units of the insertion
    """

    class Region(reference.CaseSensitive, columnar.Part):
        """One brain region x insertion x rule: its units, counting those of every descendant region."""

        case_sensitive = ("acronym",)
        definition = """
        # units per region, rolled up to every ancestor
        -> master
        -> reference.BrainRegion
        ---
        acronym : varchar(32)                   # copy of the region acronym (case-sensitive) so a restriction needs no join
        n_units : int32                         # (count) units in the region or a descendant
        n_good : int32                          # (count) of those, good under the rule
        n_units_direct : int32                  # (count) units assigned to exactly this region
        mean_firing_rate : float32              # (Hz) mean over the n_units
        mean_good_firing_rate = null : float32  # (Hz) mean over the good units; null when none
        index (acronym)
        """

    @property
    def key_source(self):
        # Narrowed from UnitQuality: insertions without any region (no histology yet) have no rows to write.
        return UnitQuality.proj() & (Clusters & {"has_regions": 1})

    def make(self, key):
        from iblpipe.compute.units import region_rollup

        unit_rows = (Clusters.Cluster * UnitQuality.Unit & key).to_arrays("brain_region_id", "firing_rate", "is_good")
        region_ids = pd.array(unit_rows[0], dtype="Int64")
        present = sorted({int(i) for i in region_ids.dropna()})
        closure = (reference.BrainRegion.Ancestor & [{"brain_region_id": i} for i in present]).to_pandas()
        rollup = region_rollup(region_ids, unit_rows[1], unit_rows[2], closure.reset_index())
        acronyms = (
            reference.BrainRegion & [{"brain_region_id": int(i)} for i in rollup["brain_region_id"]]
        ).to_pandas()
        rows = rollup.merge(acronyms["acronym"].reset_index(), on="brain_region_id").assign(**key)
        self.insert1(dict(key, n_regions=len(rows)))
        self.Region.insert(null_records(rows))


# The per-region table analysts query: ``(ephys.RegionUnits & {"acronym": "CA1"}).to_pandas()``.
# Its rows are made per insertion and rule by ``RegionRollup.populate()`` (DataJoint's job reservation
# needs a table's key to be its key source's key, so the per-region rows live in a Part).
RegionUnits = RegionRollup.Region
