"""Behaviour: trials, psychometric fits, reaction times, training status (issues 5, 15).

``Trials`` is one row per trial (``(Trials & key).to_pandas()``: a session's or a mouse's
trials); it is the Part ``TrialSet.Trial`` of ``TrialSet``, one row per session
summarising its trials (the name IBL's pipeline used). Per-session tables
(``TrialSet``, ``PsychometricFit``, ``ReactionTime``) descend from
``acquisition.Session``. Per-subject tables (``DailySummary``, ``TrainingStatus``,
``LearningCurve``) descend from ``BehaviorHistory``, whose Part
``BehaviorHistory.Session`` references every ``TrialSet`` row it was computed from, so:

- deleting a session (or its ``TrialSet``) with ``part_integrity="cascade"``
  deletes the subject's whole history and everything computed from it;
- importing a new session's ``TrialSet`` deletes that subject's history in the
  same transaction.

The next populate recomputes the subject's whole ordered history in one make:
a status is a function of the inputs, never of earlier rows of its own table.
Every ``to_pandas`` takes the columnar path (``schemas.columnar``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from pathlib import Path

import datajoint as dj
import numpy as np
import pandas as pd

from iblpipe.compute.psychometrics import RT_DEFINITION
from iblpipe.errors import ConfigError, DataError
from iblpipe.schemas import acquisition, columnar, subject  # noqa: F401  (named in table definitions)
from iblpipe.schemas.files import session_folder
from iblpipe.schemas.frames import to_frame

logger = logging.getLogger(__name__)

schema = dj.Schema()

CRITERIA_VERSION = "brainbox_2024"  # training criteria of brainbox.behavior.training as of ibllib 4.1
DEFAULT_PARAMS = {"criteria_version": CRITERIA_VERSION, "rt_definition": RT_DEFINITION}
DEFAULT_PARAMS_NAME = "ibl_default"


def params_hash(params: dict) -> uuid.UUID:
    """Content hash of a parameter set (key order does not matter)."""
    return uuid.UUID(hashlib.md5(json.dumps(params, sort_keys=True).encode()).hexdigest())


def _nulls(frame: pd.DataFrame) -> list[dict]:
    """Rows of a frame as dicts with NaN replaced by None (NULL)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


@schema
class BehaviorParams(columnar.Lookup):
    """One set of behaviour analysis parameters: training criteria version and reaction-time definition."""

    definition = """
    # behaviour analysis parameters; a changed parameter set needs a new name
    params_name : varchar(32)           # e.g. ibl_default
    ---
    params_hash : uuid                  # content hash of criteria_version and rt_definition
    criteria_version : varchar(32)      # brainbox training criteria implemented by iblpipe.compute.training
    rt_definition : varchar(128)        # reaction time: response minus stimOn, goCue when stimOn is missing
    unique index (params_hash)
    """

    contents = [{"params_name": DEFAULT_PARAMS_NAME, "params_hash": params_hash(DEFAULT_PARAMS), **DEFAULT_PARAMS}]


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
        self.Trial.insert(_nulls(frame.assign(**key)))
        self.Digest.insert1(
            dict(key, training_digest=session_digest(frame), n_easy=counts.n_easy, n_easy_correct=counts.n_easy_correct)
        )
        # A new session changes its subject's history: drop it (and everything computed from it).
        subject_key = (acquisition.Session & key).proj("subject_uuid").fetch1()
        stale = BehaviorHistory & {"subject_uuid": subject_key["subject_uuid"]}
        if len(stale):
            logger.info("new trials for %s: invalidating behaviour history of subject %s", key, subject_key)
            stale.delete(prompt=False, part_integrity="cascade")


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
    """One psychometric fit per session and probabilityLeft block."""

    definition = """
    # psychofit erf_psycho_2gammas fit of one probabilityLeft block of a session
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
        return tuple(trials[name][order] for name in ("contrast_left", "contrast_right", "choice", "probability_left"))

    def make_compute(self, key, contrast_left, contrast_right, choice, probability_left):
        from iblpipe.compute.psychometrics import fit_psychometric_blocks, signed_contrast

        contrast = signed_contrast(contrast_left.astype(float), contrast_right.astype(float))
        return (fit_psychometric_blocks(contrast, choice.astype(float), probability_left.astype(float)),)

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
            _nulls(pd.DataFrame({"signed_contrast": contrasts, "median_rt": medians, "n_trials": n}).assign(**key))
        )


# ---------------------------------------------------------------- per-subject results


@schema
class BehaviorHistory(columnar.Computed):
    """One subject's behaviour history under one parameter set: the sessions its per-subject results come from."""

    definition = """
    # sessions with trials of a subject; deleted with everything below when one of them changes or a new one arrives
    -> subject.Subject
    -> BehaviorParams
    ---
    n_sessions : int32                  # (count) sessions with trials
    n_trials : int64                    # (count) trials of those sessions
    first_session_time : datetime       # (local time) start of the first session
    last_session_time : datetime        # (local time) start of the last session
    """

    class Session(columnar.Part):
        """One session the history was computed from (deleting it deletes the history)."""

        definition = """
        # a session of the history
        -> master
        -> TrialSet
        """

    @property
    def key_source(self):
        # Narrowed from Subject x BehaviorParams: only subjects with at least one imported session.
        return subject.Subject.proj() * BehaviorParams.proj() & (acquisition.Session & TrialSet)

    def make(self, key):
        query = (TrialSet * acquisition.Session & {"subject_uuid": key["subject_uuid"]}).proj(
            "n_trials", "session_start_time"
        )
        sessions = to_frame(query, index=False)
        self.insert1(
            dict(
                key,
                n_sessions=len(sessions),
                n_trials=int(sessions["n_trials"].sum()),
                first_session_time=sessions["session_start_time"].min(),
                last_session_time=sessions["session_start_time"].max(),
            )
        )
        self.Session.insert(sessions[["session_uuid"]].assign(**key))


EPHYS_PROTOCOL_KIND = "ephys"  # without task settings, an ephysChoiceWorld session counts as run on an ephys rig


def _history_trials(sessions, trial_attributes: tuple[str, ...]) -> dict[str, dict[str, np.ndarray]]:
    """``{session_uuid (str): {attribute: array}}`` of the given sessions (a query or key list), one query."""
    trials = to_frame((Trials & sessions).proj(*trial_attributes), index=False)
    trials = trials.sort_values(["session_uuid", "trial_id"], kind="stable")
    return {
        str(uid): {c: frame[c].to_numpy(dtype=float) for c in trial_attributes}
        for uid, frame in trials.groupby("session_uuid", sort=False)
    }


def _session_inputs(key: dict, trial_attributes: tuple[str, ...]) -> list:
    """``SessionInput`` of every session of a history, in start-time order.

    A session with a ``TrialSet.Digest`` carries its digest and counts, and no trials (load
    them with ``_history_trials``); a session imported before digests existed carries its
    trials (``trial_attributes``).
    """
    from iblpipe.compute.training import SessionCounts, SessionInput, protocol_kind

    history = BehaviorHistory.Session & key
    sessions = to_frame(
        history * TrialSet * acquisition.Session.proj("session_start_time", "task_protocol"),
        index=False,
    ).sort_values(["session_start_time", "session_uuid"], kind="stable")
    digests = {str(r["session_uuid"]): r for r in (TrialSet.Digest & history).to_dicts()}
    without = [{"session_uuid": u} for u in sessions["session_uuid"] if str(u) not in digests]
    trials = _history_trials(without, trial_attributes) if without else {}
    empty = {c: np.zeros(0) for c in trial_attributes}
    inputs = []
    for row in sessions.itertuples(index=False):
        uid = str(row.session_uuid)
        protocol = row.task_protocol or ""
        if row.rig_name is not None:
            ephys_rig = "ephys" in row.rig_name
        else:
            ephys_rig = protocol_kind(protocol) == EPHYS_PROTOCOL_KIND
        digest = digests.get(uid)
        counts = None
        if digest is not None:
            counts = SessionCounts(int(row.n_trials), int(row.n_correct), digest["n_easy"], digest["n_easy_correct"])
        inputs.append(
            SessionInput(
                date=row.session_start_time.date(),
                task_protocol=protocol,
                trials=None if digest is not None else trials.get(uid, empty),
                is_ephys_rig=ephys_rig,
                delay_s=0.0 if row.session_delay is None or pd.isna(row.session_delay) else float(row.session_delay),
                session_id=uid,
                digest=None if digest is None else digest["training_digest"],
                counts=counts,
            )
        )
    return inputs


TRAINING_TRIAL_ATTRIBUTES = (
    "contrast_left",
    "contrast_right",
    "feedback_type",
    "probability_left",
    "choice",
    "response_time",
    "stim_on_time",
)  # what brainbox.behavior.training reads (its TRIALS_KEYS)


@schema
class DailySummary(columnar.Computed):
    """One subject's session date: trials and performance of that date's sessions combined."""

    definition = """
    # per subject and session date, sessions of a date combined
    -> BehaviorHistory
    session_date : date                 # (local date) of the sessions
    ---
    training_day : int32                # (count) 1 for the subject's first session date
    n_sessions : int16                  # (count) sessions that date
    n_trials : int32                    # (count) trials that date
    performance = null : float64        # (fraction) correct over all trials
    performance_easy = null : float64   # (fraction) correct at contrast 50 percent or more
    protocol : varchar(16)              # protocol kind of the last session: habituation, training, biased, ephys
    """

    @property
    def key_source(self):
        # One make per subject history computes every date (dates come from the data).
        return BehaviorHistory.proj()

    def make(self, key):
        # A plain make: a subject's trials are too many for make_fetch's double fetch and deep hash.
        from iblpipe.compute.training import daily_summary

        days = daily_summary(_session_inputs(key, ("feedback_type", "contrast_left", "contrast_right")))
        rows = pd.DataFrame([d._asdict() for d in days]).rename(columns={"date": "session_date"})
        self.insert(_nulls(rows.assign(**key)))


@schema
class StatusMemo(columnar.Manual):
    """One three-date window's brainbox verdict, under the content hash of its inputs (a cache, never stale)."""

    definition = """
    # get_training_status per window, so recomputing a history after a new session fits only its new windows
    -> subject.Subject
    window_digest : char(32)            # sha256 of the window's trials, protocols, ephys dates, delays, library versions
    ---
    verdict : json                      # brainbox status, criteria target and per-criterion values (compute.training)
    """


@schema
class TrainingStatus(columnar.Computed):
    """One subject's training status on one session date (the criteria that decided it are in the Part)."""

    definition = """
    # IBL training status per subject and date, as ibllib.pipes.training_status computes it
    -> BehaviorHistory
    session_date : date                 # (local date) joinable to every session of that date
    ---
    training_status : enum('habituation', 'in_training', 'trained_1a', 'trained_1b', 'ready4ephysrig', 'ready4delay', 'ready4recording', 'untrainable', 'unbiasable')  # IBL status
    criteria_for = null : varchar(32)   # the status the criteria test (the next one, or the one passed)
    window_dates : varchar(64)          # (ISO dates) comma-separated dates whose trials decided the status
    """

    class Criterion(columnar.Part):
        """One criterion of a date's status decision: value, threshold, verdict."""

        definition = """
        # criteria breakdown
        -> master
        criterion : varchar(32)         # e.g. bias, threshold, perf_easy, n_trials, reaction_time
        ---
        value = null : float64          # value in the unit of the criterion; worst session of the window for per-session ones
        session_values = null : varchar(255)  # comma-separated per-session values of the window, when per session
        threshold = null : float64      # in the unit of the value
        rule : varchar(16)              # comparison of value with threshold, e.g. abs <, all >
        passed : bool                   # the criterion is met
        """

    @property
    def key_source(self):
        # One make per subject history computes the whole ordered history (never reads its own rows).
        return BehaviorHistory.proj()

    def make(self, key):
        # A plain make: a subject's trials are too many for make_fetch's double fetch and deep hash.
        from iblpipe.compute.training import training_history

        subject_key = {"subject_uuid": key["subject_uuid"]}
        digests, verdicts = (StatusMemo & subject_key).to_arrays("window_digest", "verdict")
        memo = dict(zip(digests, verdicts, strict=True))
        known = set(memo)
        history = training_history(
            _session_inputs(key, TRAINING_TRIAL_ATTRIBUTES),
            memo=memo,
            load_trials=lambda ids: _history_trials(
                [{"session_uuid": uuid.UUID(u)} for u in ids], TRAINING_TRIAL_ATTRIBUTES
            ),
        )
        StatusMemo.insert(
            [{**subject_key, "window_digest": d, "verdict": v} for d, v in memo.items() if d not in known],
            skip_duplicates=True,
        )
        self.insert(
            [
                dict(
                    key,
                    session_date=day.date,
                    training_status=day.status,
                    criteria_for=day.criteria_for,
                    window_dates=",".join(d.isoformat() for d in day.window),
                )
                for day in history
            ]
        )
        self.Criterion.insert(
            [
                dict(
                    key,
                    session_date=day.date,
                    criterion=c.name,
                    **_criterion_value(c),
                    threshold=None if np.isnan(c.threshold) else c.threshold,
                    rule=c.rule,
                    passed=c.passed,
                )
                for day in history
                for c in day.criteria
            ]
        )


def _criterion_value(criterion) -> dict:
    """``value`` (a number; the worst session for per-session criteria) and ``session_values`` of one criterion."""
    if isinstance(criterion.value, tuple):
        values = np.asarray(criterion.value, dtype=float)
        finite = values[np.isfinite(values)]
        worst = None
        if finite.size:
            worst = float(finite.max() if "<" in criterion.rule else finite.min())
        return {"value": worst, "session_values": ",".join(f"{v:.6g}" for v in values)}
    value = float(criterion.value)
    return {"value": None if np.isnan(value) else value, "session_values": None}


@schema
class LearningCurve(columnar.Computed):
    """When one subject first reached one training status, and the sessions and trials it took."""

    definition = """
    # how many sessions until trained: first date at or above each status
    -> BehaviorHistory
    training_status : varchar(32)       # status reached: in_training ... ready4recording, untrainable, unbiasable
    ---
    first_date : date                   # (local date) first session date at or above the status
    n_sessions : int32                  # (count) non-habituation sessions up to and including first_date
    n_trials : int32                    # (count) trials of those sessions
    n_days : int32                      # (days) from the first non-habituation session to first_date, inclusive
    skipped : bool                      # the status itself was never assigned (a higher one came first)
    """

    @property
    def key_source(self):
        # One make per subject history; needs its TrainingStatus rows.
        return BehaviorHistory.proj() & TrainingStatus

    def make(self, key):
        from iblpipe.compute.training import DailyStatus, SessionInput, learning_curve

        days = (TrainingStatus & key).to_pandas(order_by="session_date").reset_index()
        history = [DailyStatus(d.session_date, d.training_status, ()) for d in days.itertuples()]
        sessions = to_frame(
            ((BehaviorHistory.Session & key) * TrialSet * acquisition.Session).proj(
                "n_trials", "session_start_time", "task_protocol"
            ),
            index=False,
        ).sort_values("session_start_time", kind="stable")
        inputs = [
            SessionInput(s.session_start_time.date(), s.task_protocol or "", {"choice": np.zeros(s.n_trials)})
            for s in sessions.itertuples()
        ]
        points = learning_curve(history, inputs)
        self.insert(
            [
                dict(key, **{("training_status" if k == "status" else k): v for k, v in p._asdict().items()})
                for p in points
            ]
        )
