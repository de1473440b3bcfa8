"""Statuses, protocol kinds and the per-session inputs of the training computations (pure)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from iblpipe.compute.protocols import is_choice_protocol, is_passive
from iblpipe.compute.trials import alf_trials
from iblpipe.errors import DataError

# Statuses in IBL's order (ibllib TRAINING_STATUS ranks); habituation precedes training.
HABITUATION = "habituation"
IN_TRAINING = "in_training"
STATUSES = (
    HABITUATION,
    IN_TRAINING,
    "trained_1a",
    "trained_1b",
    "ready4ephysrig",
    "ready4delay",
    "ready4recording",
    "untrainable",
    "unbiasable",
)
PROGRESSION = STATUSES[1:7]  # in_training .. ready4recording
# our name -> ibllib / brainbox name
IBL_NAMES = {s: s.replace("_", " ") if s in ("in_training", "trained_1a", "trained_1b") else s for s in STATUSES}
OUR_NAMES = {ibl: ours for ours, ibl in IBL_NAMES.items()}
# ibllib.pipes.training_status.TRAINING_STATUS ranks: a new status below the previous date's is not taken
STATUS_RANK = {
    "untrainable": -4,
    "unbiasable": -3,
    "not_computed": -2,
    HABITUATION: -1,
    IN_TRAINING: 0,
    "trained_1a": 1,
    "trained_1b": 2,
    "ready4ephysrig": 3,
    "ready4delay": 4,
    "ready4recording": 5,
}

# Protocol kinds as ibllib names them (extractor class name without 'Trials', lower case)
PROTOCOL_KINDS = ("habituation", "training", "biased", "ephys")
# ibllib/io/extractors/task_extractor_map.json: protocol name fragment -> kind
PROTOCOL_MAP = {
    "ephysChoiceWorld": "ephys",
    "_biasedChoiceWorld": "biased",
    "_habituationChoiceWorld": "habituation",
    "_trainingChoiceWorld": "training",
    "_trainingPhaseChoiceWorld": "training",
    "_imagingChoiceWorld": "biased",
    "_advancedChoiceWorld": "training",
    "_neuromodulatorChoiceWorld": "training",
}


class Criterion(NamedTuple):
    """One criterion of a status decision: its value, threshold and verdict."""

    name: str  # e.g. 'bias', 'perf_easy'
    value: float | tuple[float, ...]  # the measured value; per session of the window for n_trials / perf_easy
    threshold: float  # in the unit of the value
    passed: bool
    rule: str  # how value is compared with threshold, e.g. 'abs <', 'all >'


class SessionCounts(NamedTuple):
    """What the daily summary needs of one session's trials (:func:`session_counts`)."""

    n_trials: int  # (count) trials
    n_correct: int  # (count) trials with feedbackType 1
    n_easy: int  # (count) trials at |contrast| >= psychometrics.EASY_CONTRAST_PCT
    n_easy_correct: int  # (count) easy trials with feedbackType 1


@dataclass(frozen=True)
class SessionInput:
    """What the training status needs of one session.

    ``trials`` may be None when ``digest`` is given: :func:`training_history` then asks its
    ``load_trials`` for the trials of the windows it has to fit, and :func:`daily_summary`
    uses ``counts``.
    """

    date: datetime.date
    task_protocol: str  # full protocol name or a kind from PROTOCOL_KINDS
    trials: Mapping[str, Any] | None  # ALF names or our column names (see compute.trials)
    is_ephys_rig: bool = False
    delay_s: float = 0.0  # (s) delay between session start and the first trial (SESSION_DELAY_START)
    session_id: str | None = None  # names the session in errors, and to load_trials
    digest: str | None = None  # session_digest of the trials (computed from them when None)
    counts: SessionCounts | None = None  # session_counts of the trials (computed from them when None)


@dataclass(frozen=True)
class DailyStatus:
    """The training status of one date, and the criteria that decided it."""

    date: datetime.date
    status: str  # one of STATUSES
    criteria: tuple[Criterion, ...]  # the criteria of ``criteria_for`` (the next status, or the one passed at the top)
    criteria_for: str | None = None  # the status these criteria test; None when nothing was computed
    window: tuple[datetime.date, ...] = field(default=())  # dates whose trials were used


CHAIN_SEPARATOR = "/"  # Alyx's task_protocol of a chained session: the tasks' protocols joined by this


def choice_protocols(task_protocol: str | None) -> tuple[str, ...]:
    """The choice-world tasks of a (possibly chained) protocol, in order: passive and other tasks left out.

    The rule of ``ibllib.pipes.training_status.get_data_collection``: a task counts for the
    training status when its protocol names a ChoiceWorld and is not passive.
    """
    parts = (task_protocol or "").split(CHAIN_SEPARATOR)
    return tuple(p for p in parts if is_choice_protocol(p))


def is_passive_only(task_protocol: str | None) -> bool:
    """Whether a protocol names passive tasks only (no trials for the training status); False when unknown."""
    parts = [p for p in (task_protocol or "").split(CHAIN_SEPARATOR) if p]
    return bool(parts) and all(is_passive(p) for p in parts)


def _task_kind(protocol: str) -> str:
    kind = PROTOCOL_MAP.get(protocol) or next((k for frag, k in PROTOCOL_MAP.items() if frag in protocol), None)
    if kind is None:
        raise DataError(f"task_protocol {protocol!r} is not a known ChoiceWorld protocol ({', '.join(PROTOCOL_MAP)})")
    return kind


def protocol_kind(task_protocol: str) -> str:
    """'habituation', 'training', 'biased' or 'ephys' for a protocol name, as ibllib's extractor map does.

    A chained protocol (``passiveChoiceWorld.../ephysChoiceWorld...``) takes the kind of its
    choice-world tasks (:func:`choice_protocols`), as ``ibllib.pipes.training_status`` does from
    each task's settings; tasks of different kinds: the last of the sorted kinds, whose session
    summary ibllib keeps (its loop over ``np.unique(protocols)`` overwrites the earlier ones).
    """
    if task_protocol in PROTOCOL_KINDS:
        return task_protocol
    tasks = choice_protocols(task_protocol)
    if not tasks:
        raise DataError(
            f"task_protocol {task_protocol!r} names no choice-world task (passive and other tasks give no trials "
            f"for the training status; known: {', '.join(PROTOCOL_MAP)})"
        )
    return sorted({_task_kind(t) for t in tasks})[-1]


EPHYS_PROTOCOL_KIND = "ephys"  # without a rig name, an ephysChoiceWorld session counts as run on an ephys rig
EPHYS_RIG_FRAGMENT = "ephys"  # a rig whose name holds this is an ephys rig (ibllib's rule on RIG_NAME / PYBPOD_BOARD)


def is_ephys_rig(rig_name: str | None, task_protocol: str) -> bool:
    """Whether a session ran on an ephys rig: from its rig name, else from its protocol kind (as ibllib decides)."""
    if rig_name is not None:
        return EPHYS_RIG_FRAGMENT in rig_name
    return protocol_kind(task_protocol or "") == EPHYS_PROTOCOL_KIND


def _concat(trials: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    from brainbox.behavior.training import TRIALS_KEYS

    return {k: np.concatenate([np.asarray(t[k]) for t in trials]) for k in TRIALS_KEYS}


def _check_session(s: SessionInput, kind: str, trials: dict[str, np.ndarray]) -> None:
    """The fields brainbox reads are present and of one length (habituation sessions are not used)."""
    from brainbox.behavior.training import TRIALS_KEYS

    if kind == HABITUATION:
        return
    where = f"session {s.session_id or '?'} ({s.date})"
    missing = [k for k in TRIALS_KEYS if k not in trials]
    if missing:
        raise DataError(f"{where}: trials.{missing[0]} is missing (the training status needs {', '.join(TRIALS_KEYS)})")
    lengths = {k: np.shape(trials[k])[0] if np.ndim(trials[k]) else 0 for k in TRIALS_KEYS}
    n = lengths["choice"]
    bad = [k for k, length in lengths.items() if length != n]
    if bad:
        detail = ", ".join(f"{k}: {length}" for k, length in lengths.items())
        raise DataError(f"{where}: trials.{bad[0]} length differs from trials.choice ({detail})")


class _Row(NamedTuple):
    date: datetime.date
    kind: str
    trials: dict | None  # None until loaded (SessionInput without trials)
    ephys: bool
    delay_s: float
    source: SessionInput


def _rows(sessions: Sequence[SessionInput], *, check: bool = False) -> list[_Row]:
    """Sessions sorted by date (input order within a date); ``check`` the fields the status needs."""
    rows = []
    for s in sessions:
        if not isinstance(s.date, datetime.date):
            raise DataError(f"session {s.session_id or '?'}: date must be a datetime.date, got {s.date!r}")
        date = s.date.date() if isinstance(s.date, datetime.datetime) else s.date
        kind = protocol_kind(s.task_protocol)
        if s.trials is None and s.digest is None:
            raise DataError(f"session {s.session_id or '?'} ({date}): neither trials nor their digest given")
        trials = None if s.trials is None else alf_trials(s.trials)
        if check and trials is not None:
            _check_session(s, kind, trials)
        rows.append(_Row(date, kind, trials, bool(s.is_ephys_rig), float(s.delay_s or 0), s))
    order = sorted(range(len(rows)), key=lambda i: rows[i].date)  # stable: input order within a date
    return [rows[i] for i in order]


def _date_delay(rows: list[_Row]) -> float:
    """ibllib's combined_n_delay of a date's last row: the max over the date if all share one non-habituation kind."""
    kinds = {r.kind for r in rows}
    if len(rows) > 1 and len(kinds) == 1 and HABITUATION not in kinds:
        return float(np.nanmax([r.delay_s for r in rows]))
    return rows[-1].delay_s
