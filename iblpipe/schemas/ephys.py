"""Electrophysiology: probe insertions, trajectories, clusters, per-region units."""

import logging
from pathlib import Path

import datajoint as dj
import numpy as np
import pandas as pd

from iblpipe.compute.params import content_hash
from iblpipe.compute.psth import DEFAULT_BIN_SIZE, DEFAULT_POST_TIME, DEFAULT_PRE_TIME, DEFAULT_SMOOTHING
from iblpipe.compute.units import IBL_LABEL_RULE, KS2_GOOD_RULE
from iblpipe.errors import DataError
from iblpipe.schemas import acquisition, columnar, reference, subject  # noqa: F401  (named in table definitions)
from iblpipe.schemas.frames import null_records
from iblpipe.schemas.units_query import DEFAULT_SORTING

logger = logging.getLogger(__name__)

DEFAULT_PSTH = {
    "pre_time": DEFAULT_PRE_TIME,
    "post_time": DEFAULT_POST_TIME,
    "bin_size": DEFAULT_BIN_SIZE,
    "smoothing": DEFAULT_SMOOTHING,
}

schema = dj.Schema()


@schema
class ProbeInsertion(columnar.Manual):
    """One probe inserted in one session (Alyx experiments.probeinsertion)."""

    definition = """
    # a probe insertion
    probe_insertion_uuid : uuid     # Alyx primary key (ONE pid)
    ---
    -> acquisition.Session
    probe_name : varchar(32)        # ALF collection name, e.g. probe00
    probe_model = "" : varchar(32)  # e.g. 3B2
    unique index (session_uuid, probe_name)
    """


@schema
class ProbeTrajectory(columnar.Manual):
    """One trajectory estimate of an insertion (Alyx experiments.trajectoryestimate)."""

    definition = """
    # a trajectory estimate; is_best flags the highest-provenance one per insertion
    trajectory_uuid : uuid          # Alyx primary key
    ---
    -> ProbeInsertion
    provenance : varchar(64)        # Planned, Micro-manipulator, Histology track, Ephys aligned histology track
    provenance_rank : int8          # (rank) 10 planned < 30 micromanipulator < 50 histology < 70 ephys aligned
    is_best : bool                  # highest provenance_rank of its insertion
    x : float32                     # (um) ML of the entry point relative to bregma
    y : float32                     # (um) AP of the entry point relative to bregma
    z : float32                     # (um) DV of the entry point relative to bregma
    depth : float32                 # (um) insertion depth along the track
    theta : float32                 # (deg) polar angle from vertical
    phi : float32                   # (deg) azimuth
    roll = 0 : float32              # (deg) rotation about the probe axis
    """


# ---------------------------------------------------------------- clusters and units (issue 6)


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
        depth : float32                     # (um) along the probe, from the tip
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
        self.Cluster.insert(null_records(unit_rows.assign(**key)))


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

# Analyst helpers over these tables: ``ephys.units(acronym)``, ``ephys.unit_spikes(key)``.
from iblpipe.schemas.units_query import unit_spikes, units  # noqa: E402, F401


@schema
class PsthParams(columnar.Lookup):
    """One set of peri-event histogram parameters."""

    definition = """
    # PSTH bin parameters (brainbox calculate_peths)
    psth_params : varchar(32)   # name, e.g. default
    ---
    params_hash : uuid          # content hash of the values below
    pre_time : float64          # (s) window before the event
    post_time : float64         # (s) window after the event
    bin_size : float64          # (s) histogram bin width
    smoothing : float64         # (s) sd of the Gaussian smoothing kernel; 0 = none
    unique index (params_hash)
    """

    contents = [
        {
            "psth_params": "default",
            "params_hash": content_hash(DEFAULT_PSTH),
            **DEFAULT_PSTH,
        }
    ]


@schema
class TrialPSTH(columnar.Computed):
    """PSTHs of the good units of one insertion (under one rule) around each task event."""

    definition = """
    # trial-averaged firing rates of good units around stimOn, feedback, firstMovement
    -> UnitQuality
    -> PsthParams
    ---
    bin_times : <blob>          # (s) bin centres relative to the event
    n_trials : int32            # (count) trials of the session
    """

    class Unit(columnar.Part):
        """One good unit around one event: mean and sd across trials, as arrays over bins."""

        definition = """
        # PSTH of one unit and event
        -> master
        -> UnitQuality.Unit
        event : enum('stimOn', 'feedback', 'firstMovement')  # task event the spikes are aligned to
        ---
        n_events : int32            # (count) trials with a time for this event
        psth_mean : <blob>          # (Hz) mean firing rate per bin
        psth_std : <blob>           # (Hz) sd across trials per bin
        """

    def make_fetch(self, key):
        from iblpipe.schemas.files import imported_sorting

        good = (UnitQuality.Unit & key & {"is_good": 1}).to_arrays("cluster_id")
        params = (PsthParams & key).fetch1()
        window = tuple(float(params[k]) for k in ("pre_time", "post_time", "bin_size", "smoothing"))
        sorting = imported_sorting(key)
        located = (str(sorting.session), sorting.collection, sorting.revision, sorting.sorter, sorting.defaults)
        return located, tuple(int(i) for i in np.sort(good)), window

    def make_compute(self, key, located, good_ids, window):
        from iblpipe.compute.psth import trial_psth
        from iblpipe.sources.ephys import REQUIRED_TRIAL_EVENTS, load_spikes, load_trial_events
        from iblpipe.sources.locate import Located, trials

        folder = Located(Path(located[0]), *located[1:])
        found = trials(folder.session)  # the active task's trials first
        alf = found[0][1] if found else folder.session / "alf"
        events = load_trial_events(alf)
        n_trials = max(len(times) for times in events.values())
        if not good_ids:
            return n_trials, np.array([]), []
        spikes = load_spikes(folder, ("times", "clusters"))
        pre, post, bin_size, smoothing = window
        results = []
        for event, times in events.items():
            if event not in REQUIRED_TRIAL_EVENTS and np.isnan(times).all():
                continue  # an optional event never detected in this session
            try:
                psth = trial_psth(
                    spikes["times"],
                    spikes["clusters"],
                    np.array(good_ids),
                    times,
                    pre_time=pre,
                    post_time=post,
                    bin_size=bin_size,
                    smoothing=smoothing,
                )
            except ValueError as err:
                raise DataError(f"{getattr(alf, 'folder', alf)}: event {event}: {err}") from None
            results.append((event, psth))
        return n_trials, results[0][1].bin_times, results

    def make_insert(self, key, n_trials, bin_times, results):
        self.insert1(dict(key, bin_times=bin_times, n_trials=n_trials))
        self.Unit.insert(
            [
                dict(
                    key,
                    cluster_id=int(cid),
                    event=event,
                    n_events=psth.n_events,
                    psth_mean=psth.mean[i],
                    psth_std=psth.std[i],
                )
                for event, psth in results
                for i, cid in enumerate(psth.cluster_ids)
            ]
        )
