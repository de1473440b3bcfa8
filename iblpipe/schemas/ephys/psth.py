"""Peri-event time histograms of units around task events."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from iblpipe.compute.params import content_hash
from iblpipe.compute.psth import DEFAULT_BIN_SIZE, DEFAULT_POST_TIME, DEFAULT_PRE_TIME, DEFAULT_SMOOTHING
from iblpipe.errors import DataError
from iblpipe.schemas import acquisition, columnar, reference, subject  # noqa: F401  (named in table definitions)
from iblpipe.schemas.ephys._schema import schema
from iblpipe.schemas.ephys.sortings import Clusters, GoodUnitRule, UnitQuality  # noqa: F401  (named in definitions)

logger = logging.getLogger(__name__)

DEFAULT_PSTH = {
    "pre_time": DEFAULT_PRE_TIME,
    "post_time": DEFAULT_POST_TIME,
    "bin_size": DEFAULT_BIN_SIZE,
    "smoothing": DEFAULT_SMOOTHING,
}


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
