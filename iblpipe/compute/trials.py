"""Trials: validate an ALF ``trials`` object and turn it into one row per trial (pure numpy/pandas).

Names: the input uses ALF attribute names (``stimOn_times``, ``contrastLeft`` ...);
the output uses our column names (``stim_on_time``, ``contrast_left`` ...), see
:data:`TRIAL_COLUMNS`. ``intervals`` (n x 2) becomes ``trial_start_time`` and
``trial_end_time``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from iblpipe.errors import DataError

# ALF trials attribute -> our column name (``intervals`` is split, see INTERVALS_COLUMNS).
TRIAL_COLUMNS: dict[str, str] = {
    "stimOn_times": "stim_on_time",  # (s)
    "goCue_times": "go_cue_time",  # (s)
    "response_times": "response_time",  # (s)
    "firstMovement_times": "first_movement_time",  # (s)
    "feedback_times": "feedback_time",  # (s)
    "choice": "choice",  # -1 (counter-clockwise, stimulus on the right), 1 (clockwise), 0 (no-go)
    "feedbackType": "feedback_type",  # 1 correct, -1 error
    "contrastLeft": "contrast_left",  # (fraction) NaN when the stimulus is on the right
    "contrastRight": "contrast_right",  # (fraction) NaN when the stimulus is on the left
    "probabilityLeft": "probability_left",  # (fraction) block prior of a left stimulus
    "rewardVolume": "reward_volume",  # (uL)
}
INTERVALS = "intervals"  # ALF attribute: (n x 2) trial start and end times (s)
INTERVALS_COLUMNS = ("trial_start_time", "trial_end_time")  # our columns for intervals[:, 0], intervals[:, 1]

# Fields a session must have; the others are filled with NaN when absent (older rigs lack them).
REQUIRED_FIELDS = (
    INTERVALS,
    "stimOn_times",
    "goCue_times",
    "response_times",
    "feedback_times",
    "choice",
    "feedbackType",
    "contrastLeft",
    "contrastRight",
    "probabilityLeft",
)
OPTIONAL_FIELDS = ("firstMovement_times", "rewardVolume")
CHOICE_VALUES = (-1, 0, 1)  # IBL choice coding; NaN allowed for single trials
FRAME_COLUMNS = ("trial_id", *INTERVALS_COLUMNS, *TRIAL_COLUMNS.values())

# our column name -> ALF attribute, to hand rows fetched from the database back to brainbox
ALF_NAMES: dict[str, str] = {column: attribute for attribute, column in TRIAL_COLUMNS.items()}


def _fail(where: str, field: str, problem: str) -> DataError:
    return DataError(f"{where}: trials.{field} {problem}")


def _numeric(where: str, name: str, values) -> np.ndarray:
    """``values`` as floats, or a DataError naming the field and its first non-numeric value."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        flat = np.asarray(values, dtype=object).ravel()
        odd = next((v for v in flat if not _is_number(v)), None)
        raise _fail(where, name, f"holds non-numeric values (e.g. {odd!r}); expected numbers") from None


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def validate_trials(trials: Mapping[str, np.ndarray], *, where: str) -> int:
    """Check one session's ALF trials object and return its number of trials.

    Parameters
    ----------
    trials
        ALF attribute name -> array (``intervals`` n x 2, the others length n).
    where
        What the trials are (file or session id); every error message starts with it.

    Returns
    -------
    int
        The number of trials.

    Raises
    ------
    DataError
        Naming ``where`` and the field: a required field missing or not numeric, lengths that differ,
        negative times,
        no trials, an all-NaN or out-of-code ``choice``, unsorted trial start times or
        unsorted ``stimOn_times``.
    """
    if trials is None:
        raise DataError(f"{where}: no trials object")
    missing = [name for name in REQUIRED_FIELDS if name not in trials or trials[name] is None]
    if missing:
        raise _fail(where, missing[0], f"is missing (required: {', '.join(missing)})")
    intervals = _numeric(where, INTERVALS, trials[INTERVALS])
    if intervals.ndim != 2 or intervals.shape[1] != 2:
        raise _fail(where, INTERVALS, f"must be n x 2, got shape {intervals.shape}")
    n = intervals.shape[0]
    lengths = {INTERVALS: n}
    for name in (*TRIAL_COLUMNS, *OPTIONAL_FIELDS):
        if name in trials and trials[name] is not None:
            values = _numeric(where, name, trials[name])
            if values.ndim != 1:
                raise _fail(where, name, f"must be 1-D, got shape {values.shape}")
            lengths[name] = values.shape[0]
    bad = {name: length for name, length in lengths.items() if length != n}
    if bad:
        detail = ", ".join(f"{name}: {length}" for name, length in lengths.items())
        raise _fail(where, next(iter(bad)), f"length differs from intervals ({detail})")
    if n == 0:
        raise _fail(where, INTERVALS, "is empty (no trials)")
    choice = np.asarray(trials["choice"], dtype=float)
    if np.all(np.isnan(choice)):
        raise _fail(where, "choice", "is all NaN")
    finite = choice[np.isfinite(choice)]
    if not np.all(np.isin(finite, CHOICE_VALUES)):
        odd = np.setdiff1d(finite, CHOICE_VALUES)[:5]
        raise _fail(where, "choice", f"has values outside {CHOICE_VALUES}: {odd.tolist()}")
    for name in (INTERVALS, *(f for f in (*TRIAL_COLUMNS, *OPTIONAL_FIELDS) if f.endswith("_times"))):
        if name in trials and trials[name] is not None:
            values = np.asarray(trials[name], dtype=float)
            negative = np.flatnonzero(np.any(values.reshape(n, -1) < 0, axis=1))
            if len(negative):
                trial = int(negative[0])
                first = float(np.min(values.reshape(n, -1)[trial]))
                raise _fail(where, name, f"has negative times ({len(negative)} trials, first trial {trial}: {first} s)")
    starts = intervals[:, 0]
    if np.any(np.isnan(starts)):
        raise _fail(where, INTERVALS, "has NaN trial start times")
    if np.any(np.diff(starts) < 0):
        first = int(np.argmax(np.diff(starts) < 0)) + 1
        raise _fail(where, INTERVALS, f"start times are not sorted (trial {first} starts before trial {first - 1})")
    stim_on = np.asarray(trials["stimOn_times"], dtype=float)
    stim_on = stim_on[np.isfinite(stim_on)]
    if np.any(np.diff(stim_on) < 0):
        raise _fail(where, "stimOn_times", "are not sorted")
    return int(n)


def trials_frame(trials: Mapping[str, np.ndarray], *, where: str) -> pd.DataFrame:
    """One row per trial with our column names, after :func:`validate_trials`.

    Parameters
    ----------
    trials
        ALF attribute name -> array, as for :func:`validate_trials`.
    where
        What the trials are (file or session id), for error messages.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FRAME_COLUMNS`: ``trial_id`` 0..n-1, times in s, ``choice`` and
        ``feedback_type`` as float (NaN where missing), contrasts as fractions with NaN
        on the side where no stimulus was shown, absent optional fields as NaN.
    """
    n = validate_trials(trials, where=where)
    intervals = np.asarray(trials[INTERVALS], dtype=float)
    columns: dict[str, np.ndarray] = {
        "trial_id": np.arange(n, dtype=np.int64),
        INTERVALS_COLUMNS[0]: intervals[:, 0],
        INTERVALS_COLUMNS[1]: intervals[:, 1],
    }
    for attribute, column in TRIAL_COLUMNS.items():
        values = trials.get(attribute)
        columns[column] = np.full(n, np.nan) if values is None else np.asarray(values, dtype=float)
    # A stimulus is on one side: a zero filled in on the other side (older extractors) means 'not shown'.
    left, right = columns["contrast_left"], columns["contrast_right"]
    both = np.isfinite(left) & np.isfinite(right)
    columns["contrast_left"] = np.where(both & (left == 0) & (right > 0), np.nan, left)
    columns["contrast_right"] = np.where(both & (right == 0) & (left > 0), np.nan, right)
    return pd.DataFrame(columns, columns=list(FRAME_COLUMNS))


def alf_trials(trials: Mapping[str, np.ndarray] | pd.DataFrame) -> dict[str, np.ndarray]:
    """ALF-named arrays from either ALF names or our column names (as fetched from a table).

    ``trial_start_time`` / ``trial_end_time`` become ``intervals``; unknown keys are dropped.
    """
    keys = list(trials.keys())
    out: dict[str, np.ndarray] = {}
    for key in keys:
        if key in TRIAL_COLUMNS or key == INTERVALS:
            out[key] = np.asarray(trials[key])
        elif key in ALF_NAMES:
            out[ALF_NAMES[key]] = np.asarray(trials[key], dtype=float)
    if INTERVALS not in out and all(c in keys for c in INTERVALS_COLUMNS):
        out[INTERVALS] = np.c_[np.asarray(trials[INTERVALS_COLUMNS[0]]), np.asarray(trials[INTERVALS_COLUMNS[1]])]
    return out
