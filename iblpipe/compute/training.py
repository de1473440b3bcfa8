"""Training status history, learning curve and daily summary of one subject (pure; no database).

:func:`training_history` mirrors ``ibllib.pipes.training_status`` (ibllib 4.1):
for each date in order, the trials of the last three session rows up to that date
(sessions of one date combined, habituation dates skipped) go to
``brainbox.behavior.training.get_training_status`` with their protocols, the
ephys-rig dates and the count of dates whose start delay was >= 15 min; the
result never falls below the previous date's status; after the loop the 40th
'in training' session is marked untrainable and the 40th biased session
unbiasable when ready4ephysrig was not reached within those 40.

Differences from ibllib, on purpose:

- psychofit's random restarts are seeded (:data:`psychometrics.FIT_SEED`) for
  every date, so a recompute never flips a status;
- a date whose three-date window holds only habituation keeps its previous
  status (ibllib raises there);
- status names use underscores (``trained_1a``), see :data:`IBL_NAMES`.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import math
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from iblpipe.compute import psychometrics as psy
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

# Window and failure rules (ibllib.pipes.training_status)
N_WINDOW_DATES = 3  # (count) session dates whose trials decide a date's status
DELAY_MIN_S = 900  # (s) a session start delay at least this long counts for ready4recording
UNTRAINABLE_AFTER_SESSIONS = 40  # (count) in_training sessions before untrainable
UNBIASABLE_AFTER_SESSIONS = 40  # (count) biased sessions without ready4ephysrig before unbiasable

# Criteria thresholds (brainbox.behavior.training criterion_1a / 1b / ephys / delay / recording)
MAX_BIAS_1A = 16.0  # (% contrast) |bias| below this
MAX_THRESHOLD_1A = 19.0  # (% contrast) threshold below this
MAX_LAPSE_1A = 0.2  # (fraction) each lapse rate below this
MIN_TRIALS_1A = 200  # (count) trials above this in every session of the window
MIN_PERF_EASY_1A = 0.8  # (fraction correct at |contrast| >= 50 percent) above this in every session
MAX_BIAS_1B = 10.0  # (% contrast) |bias| below this
MAX_THRESHOLD_1B = 20.0  # (% contrast) threshold below this
MAX_LAPSE_1B = 0.1  # (fraction) each lapse rate below this
MIN_TRIALS_1B = 400  # (count) trials above this in every session of the window
MIN_PERF_EASY_1B = 0.9  # (fraction correct at |contrast| >= 50 percent) above this in every session
MAX_RT_1B = 2.0  # (s) median zero-contrast reaction time below this
MIN_BIASED_SESSIONS = 3  # (count) biased/ephys dates in the window before ready4ephysrig is tested
MAX_LAPSE_EPHYS = 0.1  # (fraction) each lapse rate of the 20 and 80 blocks below this
MIN_BIAS_SHIFT_EPHYS = 5.0  # (% contrast) bias(80 block) - bias(20 block) above this
MIN_TRIALS_EPHYS = 400  # (count) trials above this in every session of the window
MIN_PERF_EASY_EPHYS = 0.9  # (fraction correct at |contrast| >= 50 percent) above this in every session
MAX_RT_EPHYS = 2.0  # (s) median zero-contrast reaction time below this
MIN_EPHYS_SESSIONS_DELAY = 1  # (count) ephys-rig dates in the window for ready4delay
MIN_TRIALS_DELAY = 400  # (count) trials above this in any ephys-rig session
MIN_PERF_EASY_DELAY = 0.9  # (fraction correct at |contrast| >= 50 percent) above this in any ephys-rig session
MIN_EPHYS_SESSIONS_RECORDING = 3  # (count) ephys-rig dates in the window for ready4recording
MIN_DELAY_SESSIONS_RECORDING = 1  # (count) dates in the window with a start delay >= DELAY_MIN_S

_LAPSES_1A = ("<", MAX_LAPSE_1A)
_LAPSES_1B = ("<", MAX_LAPSE_1B)
_LAPSES_EPHYS = ("<", MAX_LAPSE_EPHYS)
# brainbox criterion name -> (our name, rule, threshold) per target status
_CRITERIA = {
    "trained_1a": {
        "Zero_contrast": ("zero_contrast", "any == 0", 0.0),
        "LapseLow_50": ("lapse_low_50", *_LAPSES_1A),
        "LapseHigh_50": ("lapse_high_50", *_LAPSES_1A),
        "Bias": ("bias", "abs <", MAX_BIAS_1A),
        "Threshold": ("threshold", "<", MAX_THRESHOLD_1A),
        "N_trials": ("n_trials", "all >", MIN_TRIALS_1A),
        "Perf_easy": ("perf_easy", "all >", MIN_PERF_EASY_1A),
    },
    "trained_1b": {
        "Zero_contrast": ("zero_contrast", "any == 0", 0.0),
        "LapseLow_50": ("lapse_low_50", *_LAPSES_1B),
        "LapseHigh_50": ("lapse_high_50", *_LAPSES_1B),
        "Bias": ("bias", "abs <", MAX_BIAS_1B),
        "Threshold": ("threshold", "<", MAX_THRESHOLD_1B),
        "N_trials": ("n_trials", "all >", MIN_TRIALS_1B),
        "Perf_tasy": ("perf_easy", "all >", MIN_PERF_EASY_1B),  # sic in brainbox
        "Perf_easy": ("perf_easy", "all >", MIN_PERF_EASY_1B),
        "Reaction_time": ("reaction_time", "<", MAX_RT_1B),
    },
    "ready4ephysrig": {
        "NBiased": ("n_biased", ">=", MIN_BIASED_SESSIONS),
        "LapseLow_80": ("lapse_low_80", *_LAPSES_EPHYS),
        "LapseHigh_80": ("lapse_high_80", *_LAPSES_EPHYS),
        "LapseLow_20": ("lapse_low_20", *_LAPSES_EPHYS),
        "LapseHigh_20": ("lapse_high_20", *_LAPSES_EPHYS),
        "Bias_shift": ("bias_shift", ">", MIN_BIAS_SHIFT_EPHYS),
        "N_trials": ("n_trials", "all >", MIN_TRIALS_EPHYS),
        "Perf_easy": ("perf_easy", "all >", MIN_PERF_EASY_EPHYS),
        "Reaction_time": ("reaction_time", "<", MAX_RT_EPHYS),
    },
    "ready4delay": {
        "N_ephys": ("n_ephys", ">=", MIN_EPHYS_SESSIONS_DELAY),
        "N_trials": ("n_trials", "any >", MIN_TRIALS_DELAY),
        "Perf_easy": ("perf_easy", "any >", MIN_PERF_EASY_DELAY),
    },
}
_CRITERIA["ready4recording"] = {
    **_CRITERIA["ready4ephysrig"],
    "N_ephys": ("n_ephys", ">=", MIN_EPHYS_SESSIONS_RECORDING),
    "N_delay": ("n_delay", ">=", MIN_DELAY_SESSIONS_RECORDING),
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


def protocol_kind(task_protocol: str) -> str:
    """'habituation', 'training', 'biased' or 'ephys' for a protocol name, as ibllib's extractor map does."""
    if task_protocol in PROTOCOL_KINDS:
        return task_protocol
    kind = PROTOCOL_MAP.get(task_protocol) or next(
        (k for frag, k in PROTOCOL_MAP.items() if frag in task_protocol), None
    )
    if kind is None:
        raise DataError(
            f"task_protocol {task_protocol!r} is not a known ChoiceWorld protocol ({', '.join(PROTOCOL_MAP)})"
        )
    return kind


def _float(value) -> float | tuple[float, ...]:
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else tuple(float(v) for v in array.ravel())


def _criteria(bunch: Mapping[str, dict], protocols: Sequence[str]) -> tuple[str | None, tuple[Criterion, ...]]:
    """Our criteria tuple from brainbox's breakdown (value / pass per name, plus 'Criteria' = the target)."""
    target = OUR_NAMES.get(bunch.get("Criteria", {}).get("val"), bunch.get("Criteria", {}).get("val"))
    table = _CRITERIA.get(target, {})
    out = []
    for name, entry in bunch.items():
        if name == "Criteria":
            continue
        ours, rule, threshold = table.get(name, (name.lower(), "", math.nan))
        value = entry["val"]
        if name == "NBiased":  # brainbox stores the protocols of the window
            value = sum(p != "training" for p in protocols)
        out.append(Criterion(ours, _float(value), float(threshold), bool(entry["pass"]), rule))
    return target, tuple(out)


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


def training_history(
    sessions: Sequence[SessionInput],
    memo: MutableMapping[str, dict] | None = None,
    load_trials: Callable[[list[str]], Mapping[str, Mapping[str, Any]]] | None = None,
) -> list[DailyStatus]:
    """The training status of every session date of one subject, oldest first.

    Parameters
    ----------
    sessions
        All the subject's sessions (any order; within a date, input order is session order).
    memo
        Optional cache of brainbox's verdict per three-date window, keyed by :func:`window_digest` of
        the window's inputs; read and filled in place. The result is the same with or without it
        (fits are seeded per window); with it, a recompute after a new session fits only new windows.
    load_trials
        Called with the ``session_id`` of sessions given without trials, when a window they are in
        must be fitted; returns their trials by id. With a memo that already holds every window but
        the newest, only the newest window's trials are loaded.

    Returns
    -------
    list of DailyStatus
        One per date. A pure, deterministic function of ``sessions``.
    """
    from brainbox.behavior.training import get_training_status

    rows = _rows(sessions, check=True)
    if load_trials is None and any(r.trials is None for r in rows):
        raise ValueError("training_history: sessions without trials need load_trials")
    digests: dict[int, str] = {}
    loaded: dict[int, dict] = {}

    def digest_of(row: _Row) -> str:
        if id(row) not in digests:
            digests[id(row)] = row.source.digest or session_digest(row.trials)
        return digests[id(row)]

    def trials_of(group: list[_Row]) -> dict[str, np.ndarray]:
        missing = [r for r in group if r.trials is None and id(r) not in loaded]
        if missing:
            found = load_trials([r.source.session_id for r in missing])
            for r in missing:
                if r.source.session_id not in found:
                    raise DataError(f"session {r.source.session_id} ({r.date}): its trials could not be loaded")
                loaded[id(r)] = alf_trials(found[r.source.session_id])
                _check_session(r.source, r.kind, loaded[id(r)])
        return _concat([r.trials if r.trials is not None else loaded[id(r)] for r in group])

    dates = sorted({r.date for r in rows})
    by_date = {d: [r for r in rows if r.date == d] for d in dates}
    # per-row status as in ibllib's data frame (one status per date once computed)
    status = {d: [HABITUATION if r.kind == HABITUATION else "not_computed" for r in by_date[d]] for d in dates}
    first = next((i for i, d in enumerate(dates) if status[d][0] == "not_computed"), len(dates))
    decided: dict[datetime.date, DailyStatus] = {}
    for d in dates[first:]:
        row_dates = [r.date for r in rows if r.date <= d]
        n_same = row_dates.count(d)
        n_dates = min(N_WINDOW_DATES - 1 + n_same, len(row_dates))
        window = row_dates[-n_dates:]
        if n_same > 1:
            window = window[: -(n_same - 1)]
        used, protocols, previous, ephys_dates = [], [], [], []
        n_delay = 0
        for w in window:  # a date may repeat here, as in ibllib
            last = by_date[w][-1]
            if last.kind == HABITUATION:
                continue
            used.append(w)
            protocols.append(last.kind)
            previous.append(status[w][-1])
            if _date_delay(by_date[w]) >= DELAY_MIN_S:
                n_delay += 1
            if last.ephys:
                ephys_dates.append(w.isoformat())
        if not used:
            old = status[dates[dates.index(d) - 1]][-1] if dates.index(d) > 0 else HABITUATION
            status[d] = [old] * len(by_date[d])
            decided[d] = DailyStatus(d, old if old in STATUSES else HABITUATION, ())
            continue
        used = list(dict.fromkeys(used))  # a repeated date is one key of brainbox's trials dict
        digest = None
        if memo is not None:
            by_iso = {w.isoformat(): [digest_of(r) for r in by_date[w]] for w in used}
            digest = window_digest(by_iso, protocols, ephys_dates, n_delay)
        if digest is not None and digest in memo:
            new, target, breakdown = decode_verdict(memo[digest])
        else:
            trials = {w.isoformat(): trials_of(by_date[w]) for w in used}
            with psy.seeded_fits():
                new, _, criteria = get_training_status(trials, protocols, ephys_dates, n_delay)
            new = OUR_NAMES[new]
            target, breakdown = _criteria(criteria, protocols)
            if digest is not None:
                memo[digest] = encode_verdict(new, target, breakdown)
        old = previous[max(-2, -len(previous))]
        if STATUS_RANK[old] > STATUS_RANK[new]:
            new = old
        status[d] = [new] * len(by_date[d])
        window_dates = tuple(sorted(used))
        decided[d] = DailyStatus(d, new, breakdown, target, window_dates)
    _mark_failures(rows, status, by_date)
    out = []
    for d in dates:
        final = status[d][0]
        if "untrainable" in status[d] or "unbiasable" in status[d]:
            final = next(s for s in status[d] if s in ("untrainable", "unbiasable"))
        base = decided.get(d, DailyStatus(d, HABITUATION, ()))
        out.append(DailyStatus(d, final, base.criteria, base.criteria_for, base.window))
    return out


@functools.cache
def memo_version() -> str:
    """What a memoised verdict depends on besides its inputs: brainbox (ibllib) and psychofit versions, fit seed."""
    from importlib.metadata import version

    return f"ibllib {version('ibllib')}, psychofit {version('psychofit')}, seed {psy.FIT_SEED}"


DIGEST_KEYS = (  # brainbox.behavior.training.TRIALS_KEYS: the trial arrays the status reads (ALF names)
    "contrastLeft",
    "contrastRight",
    "feedbackType",
    "probabilityLeft",
    "choice",
    "response_times",
    "stimOn_times",
)


def session_digest(trials: Mapping[str, Any]) -> str:
    """Content hash (32 hex digits) of one session's trial arrays that the training status reads.

    ``trials``: ALF names or our column names; values compared as float64 (NULL as NaN).
    """
    arrays = alf_trials(trials)
    h = hashlib.sha256(b"session-digest-v1")
    for name in DIGEST_KEYS:
        values = np.ascontiguousarray(arrays.get(name, np.zeros(0)), dtype=float)
        h.update(f"{name}{values.shape}".encode())
        h.update(values.tobytes())
    return h.hexdigest()[:32]


def session_counts(trials: Mapping[str, Any]) -> SessionCounts:
    """Trials, correct trials, easy trials and easy correct trials of one session (ALF or our names)."""
    arrays = alf_trials(trials)
    feedback = np.asarray(arrays.get("feedbackType", ()), float)
    if not feedback.size:
        return SessionCounts(0, 0, 0, 0)
    correct = feedback == 1
    easy = np.abs(psy.signed_contrast(arrays["contrastLeft"], arrays["contrastRight"])) >= psy.EASY_CONTRAST_PCT
    return SessionCounts(int(feedback.size), int(correct.sum()), int(easy.sum()), int((correct & easy).sum()))


def window_digest(
    sessions: Mapping[str, Sequence[str]], protocols: Sequence[str], ephys_dates: Sequence[str], n_delay: int
) -> str:
    """Content hash (32 hex digits) of one call of ``get_training_status``.

    ``sessions``: per window date (ISO), the :func:`session_digest` of its sessions in order;
    with the protocols, the ephys-rig dates, n_delay and :func:`memo_version`.
    """
    inputs = ["window-v2", memo_version(), list(protocols), list(ephys_dates), int(n_delay)]
    inputs.append([[date, list(digests)] for date, digests in sessions.items()])
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:32]


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else value


def encode_verdict(status: str, target: str | None, criteria: Sequence[Criterion]) -> dict:
    """A window's verdict as plain JSON (NaN as null; floats round-trip exactly)."""
    return {
        "status": status,
        "target": target,
        "criteria": [
            [
                c.name,
                [_json_number(v) for v in c.value] if isinstance(c.value, tuple) else _json_number(c.value),
                _json_number(c.threshold),
                c.passed,
                c.rule,
            ]
            for c in criteria
        ],
    }


def decode_verdict(verdict: Mapping) -> tuple[str, str | None, tuple[Criterion, ...]]:
    """Inverse of :func:`encode_verdict`."""

    def number(v):
        return math.nan if v is None else float(v)

    criteria = tuple(
        Criterion(name, tuple(number(x) for x in value) if isinstance(value, list) else number(value),
                  number(threshold), bool(passed), rule)
        for name, value, threshold, passed, rule in verdict["criteria"]
    )  # fmt: skip
    return verdict["status"], verdict["target"], criteria


def _mark_failures(rows: list[_Row], status: dict, by_date: dict) -> None:
    """ibllib's post-hoc untrainable / unbiasable marks on the 40th qualifying session (in place)."""
    flat = [(d, i, by_date[d][i].kind) for d in sorted(by_date) for i in range(len(by_date[d]))]
    statuses = [status[d][i] for d, i, _ in flat]
    if "untrainable" not in statuses:
        in_training = [(d, i) for (d, i, _), s in zip(flat, statuses, strict=True) if s == IN_TRAINING]
        if len(in_training) >= UNTRAINABLE_AFTER_SESSIONS:
            d, i = in_training[UNTRAINABLE_AFTER_SESSIONS - 1]
            status[d][i] = "untrainable"
    statuses = [status[d][i] for d, i, _ in flat]
    if "unbiasable" not in statuses:
        biased = [(d, i) for (d, i, kind) in flat if kind == "biased"]
        if len(biased) >= UNBIASABLE_AFTER_SESSIONS:
            first = [status[d][i] for d, i in biased[:UNBIASABLE_AFTER_SESSIONS]]
            if "ready4ephysrig" not in first:
                d, i = biased[UNBIASABLE_AFTER_SESSIONS - 1]
                status[d][i] = "unbiasable"


class LearningPoint(NamedTuple):
    """When a subject first reached a status, and what it took."""

    status: str
    first_date: datetime.date
    n_sessions: int  # (count) non-habituation sessions up to and including first_date
    n_trials: int  # (count) trials of those sessions
    n_days: int  # (days) from the first non-habituation session to first_date, inclusive
    skipped: bool  # True when the status itself was never assigned (a higher one came first)


def learning_curve(history: Sequence[DailyStatus], sessions: Sequence[SessionInput]) -> list[LearningPoint]:
    """For each status reached, the first date at or above it and the sessions and trials it took.

    A status of :data:`PROGRESSION` counts as reached on the first date whose status is
    at or above it (IBL allows skipping trained_1a); untrainable / unbiasable on the date
    they are marked.
    """
    rows = [r for r in _rows(sessions) if r.kind != HABITUATION]
    start = rows[0].date if rows else None
    assigned = {h.status for h in history}
    out = []
    for target in (*PROGRESSION, "untrainable", "unbiasable"):
        if target in PROGRESSION:
            hit = next(
                (h for h in history if h.status in PROGRESSION and STATUS_RANK[h.status] >= STATUS_RANK[target]), None
            )
        else:
            hit = next((h for h in history if h.status == target), None)
        if hit is None or start is None:
            continue
        upto = [r for r in rows if r.date <= hit.date]
        n_trials = sum(len(r.trials.get("choice", ())) for r in upto)
        days = (hit.date - start).days + 1
        out.append(LearningPoint(target, hit.date, len(upto), int(n_trials), days, target not in assigned))
    return out


class DailySummary(NamedTuple):
    """One date of one subject: trials and performance of its sessions combined."""

    date: datetime.date
    training_day: int  # (count) 1 for the subject's first session date
    n_sessions: int  # (count)
    n_trials: int  # (count)
    performance: float  # (fraction) correct over all trials
    performance_easy: float  # (fraction) correct at |contrast| >= 50 percent
    protocol: str  # protocol kind of the date's last session


def daily_summary(sessions: Sequence[SessionInput]) -> list[DailySummary]:
    """Per session date: trials, performance, easy performance and training day index."""
    rows = _rows(sessions)
    dates = sorted({r.date for r in rows})
    out = []
    for day, d in enumerate(dates, start=1):
        of_date = [r for r in rows if r.date == d]
        for r in of_date:
            if r.source.counts is None and r.trials is None:
                raise DataError(f"session {r.source.session_id or '?'} ({d}): neither trials nor their counts given")
        counts = [r.source.counts if r.source.counts is not None else session_counts(r.trials) for r in of_date]
        n, n_correct, n_easy, n_easy_correct = (sum(c[i] for c in counts) for i in range(4))
        perf = n_correct / n if n else np.nan  # brainbox compute_performance_easy, from counts
        perf_easy = n_easy_correct / n_easy if n_easy else np.nan
        out.append(DailySummary(d, day, len(of_date), n, perf, perf_easy, of_date[-1].kind))
    return out
