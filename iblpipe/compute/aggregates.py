"""IBL-style per-subject aggregate tables from our frames (pure pandas): what ``iblpipe export`` writes.

Columns follow IBL's published aggregates (``iblalyx`` ``aggregate_subject_trials``,
``one.load_aggregate('subjects', nick, '_ibl_subjectTrials.table')``):

- ``_ibl_subjectTrials.table.pqt``: one row per trial, ALF attribute names
  (``intervals_0``, ``intervals_1``, ``stimOn_times``, ``goCue_times``, ``response_times``,
  ``firstMovement_times``, ``feedback_times``, ``choice``, ``feedbackType``,
  ``contrastLeft``, ``contrastRight``, ``probabilityLeft``, ``rewardVolume``) as float64,
  then ``session`` (eid string), ``session_start_time``, ``task_protocol``,
  ``protocol_number`` (0: one task per session here). Sorted by start time and trial.
- ``_ibl_subjectTraining.table.pqt``: one row per session date: ``date``,
  ``training_status``, ``session`` (eid of that date's last session), so
  ``trials.set_index('session').join(training.set_index('session'))`` works as with IBL's.
- ``_ibl_subjectSessions.table.pqt``: one row per session, ONE cache names: ``id`` (eid),
  ``lab``, ``subject``, ``date``, ``number``, ``task_protocol``, ``start_time``,
  ``n_trials``, ``n_correct_trials`` (0 without trials).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from iblpipe.compute.trials import INTERVALS, INTERVALS_COLUMNS, TRIAL_COLUMNS

TRIALS_FILE = "_ibl_subjectTrials.table.pqt"
TRAINING_FILE = "_ibl_subjectTraining.table.pqt"
SESSIONS_FILE = "_ibl_subjectSessions.table.pqt"
PROTOCOL_NUMBER = 0  # IBL numbers the task protocols of a session; ours have one each

ALF_TRIAL_COLUMNS = {  # IBL aggregate column -> our column, in IBL's order
    f"{INTERVALS}_0": INTERVALS_COLUMNS[0],
    f"{INTERVALS}_1": INTERVALS_COLUMNS[1],
    **TRIAL_COLUMNS,
}
TRIALS_COLUMNS = (*ALF_TRIAL_COLUMNS, "session", "session_start_time", "task_protocol", "protocol_number")
TRAINING_COLUMNS = ("date", "training_status", "session")
SESSIONS_COLUMNS = (
    "id", "lab", "subject", "date", "number", "task_protocol", "start_time", "n_trials", "n_correct_trials",
)  # fmt: skip


def subject_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The subject trials table from our trial rows joined with their session.

    ``trials``: columns ``session_uuid``, ``trial_id``, our trial columns, ``session_start_time``,
    ``task_protocol`` (e.g. ``(Trials * Session).to_pandas().reset_index()``).
    """
    if not len(trials):
        return pd.DataFrame({c: pd.Series(dtype=float if c in ALF_TRIAL_COLUMNS else object) for c in TRIALS_COLUMNS})
    trials = trials.sort_values(["session_start_time", "session_uuid", "trial_id"], kind="stable")
    out = {alf: trials[ours].to_numpy(dtype=float) for alf, ours in ALF_TRIAL_COLUMNS.items()}
    out["session"] = trials["session_uuid"].astype(str).to_numpy()
    out["session_start_time"] = trials["session_start_time"].to_numpy(dtype="datetime64[ns]")
    out["task_protocol"] = trials["task_protocol"].to_numpy(dtype=object)
    out["protocol_number"] = np.full(len(trials), PROTOCOL_NUMBER, dtype=np.int64)
    return pd.DataFrame(out, columns=list(TRIALS_COLUMNS))


def subject_sessions(sessions: pd.DataFrame, *, lab: str, subject: str) -> pd.DataFrame:
    """The subject sessions table; ``sessions``: ``session_uuid``, ``session_start_time``, ``session_number``,
    ``task_protocol``, ``n_trials``, ``n_correct`` (one row per session, counts 0 without trials)."""
    sessions = sessions.sort_values(["session_start_time", "session_uuid"], kind="stable")
    start = pd.to_datetime(sessions["session_start_time"]).astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "id": sessions["session_uuid"].astype(str).to_numpy(),
            "lab": lab,
            "subject": subject,
            "date": start.dt.date.to_numpy(),
            "number": sessions["session_number"].to_numpy(dtype=np.int64),
            "task_protocol": sessions["task_protocol"].to_numpy(dtype=object),
            "start_time": start.to_numpy(),
            "n_trials": sessions["n_trials"].to_numpy(dtype=np.int64),
            "n_correct_trials": sessions["n_correct"].to_numpy(dtype=np.int64),
        },
        columns=list(SESSIONS_COLUMNS),
    )


def subject_training(status: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """The subject training table: ``status`` (``session_date``, ``training_status``) with each date's last session.

    ``sessions`` as for :func:`subject_sessions`.
    """
    start = pd.to_datetime(sessions["session_start_time"])
    last = (
        pd.DataFrame({"date": start.dt.date, "start": start, "session": sessions["session_uuid"].astype(str)})
        .sort_values("start", kind="stable")
        .groupby("date")["session"]
        .last()
    )
    status = status.sort_values("session_date", kind="stable")
    dates = pd.to_datetime(status["session_date"]).dt.date
    return pd.DataFrame(
        {
            "date": pd.to_datetime(status["session_date"]).astype("datetime64[ns]").to_numpy(),
            "training_status": status["training_status"].astype(str).to_numpy(dtype=object),
            "session": [last.get(d) for d in dates],
        },
        columns=list(TRAINING_COLUMNS),
    )


def fingerprint(frames: dict[str, pd.DataFrame]) -> str:
    """sha256 of the frames' names, columns, dtypes and values: equal fingerprints, equal files."""
    digest = hashlib.sha256()
    for name in sorted(frames):
        frame = frames[name]
        digest.update(f"{name}|{list(frame.columns)}|{[str(t) for t in frame.dtypes]}|{len(frame)}".encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
