"""Per-session behaviour: trials (``TrialSet``, ``Trials``), psychometric fits and reaction times."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from iblpipe.compute.psychometrics import RT_DEFINITION
from iblpipe.errors import ConfigError, DataError
from iblpipe.schemas import acquisition, columnar, subject  # noqa: F401  (named in table definitions)
from iblpipe.schemas.behavior._schema import schema
from iblpipe.schemas.behavior.params import BehaviorParams
from iblpipe.schemas.files import session_folder
from iblpipe.schemas.frames import null_records, to_frame

logger = logging.getLogger(__name__)


@schema
class TrialSet(columnar.Imported):
    """One session's trials object, summarised (its trials are the Part ``Trial``, alias ``behavior.Trials``)."""

    definition = """
    # trials of a session, from alf/_ibl_trials.*
    -> acquisition.Session
    ---
    n_trials : int32                # (count) trials
    n_correct : int32               # (count) trials with feedbackType 1
    n_no_go : int32                 # (count) trials with choice 0 (no response)
    trials_duration : float64       # (s) end of the last trial minus start of the first
    rig_name = null : varchar(64)   # RIG_NAME (or PYBPOD_BOARD) of raw_behavior_data task settings, if present
    session_delay = null : float64  # (s) SESSION_DELAY_START of the task settings, if present
    """

    class Trial(columnar.Part):
        """One trial: event times, stimulus, choice and outcome."""

        definition = """
        # one trial
        -> master
        trial_id : int32                        # (index) row of the trials object
        ---
        trial_start_time : float64              # (s) intervals column 0, session clock
        trial_end_time : float64                # (s) intervals column 1
        stim_on_time = null : float64           # (s) stimOn_times
        go_cue_time = null : float64            # (s) goCue_times
        response_time = null : float64          # (s) response_times
        first_movement_time = null : float64    # (s) firstMovement_times
        feedback_time = null : float64          # (s) feedback_times
        choice = null : int8                    # (code) -1 CCW turn (rightward), 1 CW turn (leftward), 0 no-go
        feedback_type = null : int8             # (code) 1 correct, -1 incorrect
        contrast_left = null : float64          # (fraction) left stimulus contrast; null when shown right
        contrast_right = null : float64         # (fraction) right stimulus contrast; null when shown left
        probability_left : float64              # (probability) block prior of a left stimulus, e.g. 0.2 0.5 0.8
        reward_volume : float64                 # (uL) water given
        """

    class Digest(columnar.Part):
        """What the per-subject tables need of the trials without reading them: a content hash and counts."""

        definition = """
        # written with the trials; sessions imported before it existed are digested from their trials when read
        -> master
        ---
        training_digest : char(32)      # compute.training.session_digest of the arrays the training status reads
        n_easy : int32                  # (count) trials at |contrast| >= 50 percent
        n_easy_correct : int32          # (count) easy trials with feedbackType 1
        """

    @property
    def key_source(self):
        # Narrowed: a session whose task_protocol names passive tasks only has no trials for the
        # training status (ibllib's training_status skips it); not a key rather than a DataError job.
        return acquisition.Session.proj() - passive_only_sessions()

    def make_fetch(self, key):
        return (str(session_folder(key)),)

    def make_compute(self, key, folder):
        from iblpipe.compute.trials import trials_frame
        from iblpipe.sources.trials import load_session_trials, task_settings

        trials, where = load_session_trials(folder)
        try:
            frame = trials_frame(trials, where=where)
        except ValueError as err:  # DataError already names the file and field
            raise DataError(f"{where}: {err}") from None
        return frame, *task_settings(Path(folder))

    def make_insert(self, key, frame, rig_name, session_delay):
        from iblpipe.compute.training import session_counts, session_digest

        end, start = frame["trial_end_time"], frame["trial_start_time"]
        counts = session_counts(frame)
        self.insert1(
            dict(
                key,
                n_trials=counts.n_trials,
                n_correct=counts.n_correct,
                n_no_go=int((frame["choice"] == 0).sum()),
                trials_duration=float(end.iloc[-1] - start.iloc[0]) if len(frame) else 0.0,
                rig_name=rig_name,
                session_delay=session_delay,
            )
        )
        self.Trial.insert(null_records(frame.assign(**key)))
        self.Digest.insert1(
            dict(key, training_digest=session_digest(frame), n_easy=counts.n_easy, n_easy_correct=counts.n_easy_correct)
        )
        # A new session changes its subject's history: drop it (and everything computed from it).
        from iblpipe.schemas.behavior.histories import BehaviorHistory

        subject_key = (acquisition.Session & key).proj("subject_uuid").fetch1()
        stale = BehaviorHistory & {"subject_uuid": subject_key["subject_uuid"]}
        if len(stale):
            logger.info("new trials for %s: invalidating behaviour history of subject %s", key, subject_key)
            stale.delete(prompt=False, part_integrity="cascade")


_TOLD_PASSIVE: set[str] = set()  # passive-only sessions this process has logged (once each)


def passive_only_sessions() -> list[dict]:
    """Keys of the sessions whose task_protocol names passive tasks only (``compute.training.is_passive_only``).

    Each is logged once per process at INFO: it is skipped by TrialSet, not an error.
    """
    from iblpipe.compute.training import is_passive_only

    rows = to_frame((acquisition.Session & "task_protocol IS NOT NULL").proj("task_protocol"), index=False)
    keys = []
    for uid, protocol in zip(rows["session_uuid"], rows["task_protocol"], strict=True):
        if not is_passive_only(protocol):
            continue
        keys.append({"session_uuid": uid})
        if str(uid) not in _TOLD_PASSIVE:
            _TOLD_PASSIVE.add(str(uid))
            logger.info("session %s: task_protocol %s is passive only: no trials to import (skipped)", uid, protocol)
    return keys


Trials = TrialSet.Trial  # one row per trial: ``(behavior.Trials & key).to_pandas()``


def fetch_trials(restriction=None) -> pd.DataFrame:
    """``(Trials & restriction).to_pandas()`` (kept for earlier code; ``to_pandas`` itself is the fast path now)."""
    return (Trials() if restriction is None else Trials & restriction).to_pandas()


def _trial_arrays(restriction, *attributes: str) -> dict[str, np.ndarray]:
    """Attributes of the trials matching ``restriction``, ordered by session start and trial_id."""
    query = (Trials & restriction) * acquisition.Session.proj("session_start_time")
    frame = to_frame(query.proj(*attributes), index=False)
    return {name: frame[name].to_numpy() for name in frame.columns}


@schema
class PsychometricFit(columnar.Computed):
    """One psychometric fit per session and probabilityLeft block (blocks chosen by ``compute.blocks``)."""

    definition = """
    # psychofit fit of one block; 0.2 and 0.8 only in protocols with blocks and with at least 20 trials
    -> TrialSet
    -> BehaviorParams
    probability_left : float64      # (probability) block prior of a left stimulus: 0.2, 0.5 or 0.8
    ---
    bias : float64                  # (percent contrast) horizontal offset of the erf
    threshold : float64             # (percent contrast) slope of the erf
    lapse_low : float64             # (fraction) p(right) at strong left contrasts
    lapse_high : float64            # (fraction) 1 - p(right) at strong right contrasts
    n_trials : int32                # (count) trials of the block
    """

    class Contrast(columnar.Part):
        """Choices at one signed contrast of one block: the data points of the fit."""

        definition = """
        # choices per signed contrast
        -> master
        signed_contrast : float64   # (percent contrast) right minus left, right positive
        ---
        n_trials : int32            # (count) trials at this contrast
        p_right : float64           # (fraction) rightward choices (choice -1); no-go counts as not rightward
        """

    @property
    def key_source(self):
        # Narrowed from TrialSet x BehaviorParams x block: one make per session fits every block present.
        return TrialSet.proj() * BehaviorParams.proj()

    def make_fetch(self, key):
        trials = _trial_arrays(key, "contrast_left", "contrast_right", "choice", "probability_left", "trial_id")
        order = np.argsort(trials["trial_id"], kind="stable")
        protocol = (acquisition.Session & key).fetch1("task_protocol")
        names = ("contrast_left", "contrast_right", "choice", "probability_left")
        return (*(trials[name][order] for name in names), protocol)

    def make_compute(self, key, contrast_left, contrast_right, choice, probability_left, task_protocol):
        from iblpipe.compute.blocks import select_blocks
        from iblpipe.compute.psychometrics import fit_psychometric_blocks, signed_contrast

        contrast = signed_contrast(contrast_left.astype(float), contrast_right.astype(float))
        p_left = probability_left.astype(float)
        fitted = select_blocks(p_left, task_protocol).fitted  # near-empty blocks are left out (compute.blocks)
        return (fit_psychometric_blocks(contrast, choice.astype(float), p_left, blocks=fitted),)

    def make_insert(self, key, fits):
        self.insert(
            [
                dict(
                    key,
                    probability_left=block,
                    bias=fit.bias,
                    threshold=fit.threshold,
                    lapse_low=fit.lapse_low,
                    lapse_high=fit.lapse_high,
                    n_trials=fit.n_total,
                )
                for block, fit in fits.items()
            ]
        )
        self.Contrast.insert(
            [
                dict(key, probability_left=block, signed_contrast=float(c), n_trials=int(n), p_right=float(p))
                for block, fit in fits.items()
                for c, n, p in zip(fit.contrasts, fit.n_trials, fit.p_right, strict=True)
            ]
        )


@schema
class ReactionTime(columnar.Computed):
    """Median reaction time of one session (its per-contrast medians are in the Part)."""

    definition = """
    # reaction time: response_times - stimOn_times; goCue_times where stimOn_times is NaN
    -> TrialSet
    -> BehaviorParams
    ---
    median_rt = null : float64      # (s) median over trials with a reaction time; null when none
    n_trials : int32                # (count) trials with a reaction time
    """

    class Contrast(columnar.Part):
        """Median reaction time at one signed contrast."""

        definition = """
        # reaction time per signed contrast: response_times - stimOn_times, goCue_times where stimOn_times is NaN
        -> master
        signed_contrast : float64   # (percent contrast) right minus left, right positive
        ---
        median_rt = null : float64  # (s) median reaction time; null when no trial has one
        n_trials : int32            # (count) trials at this contrast
        """

    def make_fetch(self, key):
        names = ("stim_on_time", "response_time", "go_cue_time", "contrast_left", "contrast_right")
        trials = _trial_arrays(key, *names, "trial_id")
        order = np.argsort(trials["trial_id"], kind="stable")
        rt_definition = (BehaviorParams & key).fetch1("rt_definition")
        return (rt_definition, *(trials[name][order].astype(float) for name in names))

    def make_compute(self, key, rt_definition, stim_on, response, go_cue, contrast_left, contrast_right):
        from iblpipe.compute.psychometrics import median_rt_by_contrast, reaction_times, signed_contrast

        if rt_definition != RT_DEFINITION:
            raise ConfigError(f"BehaviorParams {key['params_name']}: unknown rt_definition {rt_definition!r}")
        rt = reaction_times(stim_on, response, go_cue)
        contrasts, medians, n = median_rt_by_contrast(signed_contrast(contrast_left, contrast_right), rt)
        finite = rt[np.isfinite(rt)]
        return (float(np.median(finite)) if finite.size else None, int(finite.size)), (contrasts, medians, n)

    def make_insert(self, key, overall, per_contrast):
        self.insert1(dict(key, median_rt=overall[0], n_trials=overall[1]))
        contrasts, medians, n = per_contrast
        self.Contrast.insert(
            null_records(
                pd.DataFrame({"signed_contrast": contrasts, "median_rt": medians, "n_trials": n}).assign(**key)
            )
        )
