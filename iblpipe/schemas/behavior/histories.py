"""Per-subject behaviour: the history of sessions, daily summaries, training statuses, learning curves."""

from __future__ import annotations

import contextlib
import uuid

import numpy as np
import pandas as pd

from iblpipe.schemas import acquisition, columnar, subject  # noqa: F401  (named in table definitions)
from iblpipe.schemas.behavior._schema import schema
from iblpipe.schemas.behavior.params import BehaviorParams, criteria_of
from iblpipe.schemas.behavior.sessions import Trials, TrialSet
from iblpipe.schemas.frames import null_records, null_value, to_frame


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
    from iblpipe.compute.training import SessionCounts, SessionInput, is_ephys_rig

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
        digest = digests.get(uid)
        counts = None
        if digest is not None:
            counts = SessionCounts(int(row.n_trials), int(row.n_correct), digest["n_easy"], digest["n_easy_correct"])
        inputs.append(
            SessionInput(
                date=row.session_start_time.date(),
                task_protocol=protocol,
                trials=None if digest is not None else trials.get(uid, empty),
                is_ephys_rig=is_ephys_rig(row.rig_name, protocol),
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
        self.insert(null_records(rows.assign(**key)))


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


@contextlib.contextmanager
def status_memo(subject_uuid):
    """The subject's memoised window verdicts (``StatusMemo``) as a dict; verdicts added to it are stored on exit."""
    subject_key = {"subject_uuid": subject_uuid}
    digests, verdicts = (StatusMemo & subject_key).to_arrays("window_digest", "verdict")
    memo = dict(zip(digests, verdicts, strict=True))
    known = set(memo)
    yield memo
    StatusMemo.insert(
        [{**subject_key, "window_digest": d, "verdict": v} for d, v in memo.items() if d not in known],
        skip_duplicates=True,
    )


def load_training_trials(session_ids) -> dict:
    """``load_trials`` of ``compute.training``: the status arrays of the given sessions (uuid strings), one query."""
    return _history_trials([{"session_uuid": uuid.UUID(u)} for u in session_ids], TRAINING_TRIAL_ATTRIBUTES)


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

        criteria_of(key)  # the criteria the row names must be the ones training_history implements
        with status_memo(key["subject_uuid"]) as memo:
            history = training_history(
                _session_inputs(key, TRAINING_TRIAL_ATTRIBUTES), memo=memo, load_trials=load_training_trials
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
                    threshold=null_value(c.threshold),
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
    return {"value": null_value(value), "session_values": None}


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
