"""The training status history of one subject, as ibllib.pipes.training_status computes it (pure)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from iblpipe.compute import psychometrics as psy
from iblpipe.compute.training.criteria import _criteria
from iblpipe.compute.training.memo import decode_verdict, encode_verdict, session_digest, window_digest
from iblpipe.compute.training.sessions import (
    HABITUATION,
    IN_TRAINING,
    OUR_NAMES,
    STATUS_RANK,
    STATUSES,
    DailyStatus,
    SessionInput,
    _check_session,
    _concat,
    _date_delay,
    _Row,
    _rows,
)
from iblpipe.compute.trials import alf_trials
from iblpipe.errors import DataError

# Window and failure rules (ibllib.pipes.training_status)
N_WINDOW_DATES = 3  # (count) session dates whose trials decide a date's status
DELAY_MIN_S = 900  # (s) a session start delay at least this long counts for ready4recording
UNTRAINABLE_AFTER_SESSIONS = 40  # (count) in_training sessions before untrainable
UNBIASABLE_AFTER_SESSIONS = 40  # (count) biased sessions without ready4ephysrig before unbiasable


def training_history(
    sessions: Sequence[SessionInput],
    memo: MutableMapping[str, dict] | None = None,
    load_trials: Callable[[list[str]], Mapping[str, Mapping[str, Any]]] | None = None,
    seed: int = psy.FIT_SEED,
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
    seed
        Seed of psychofit's restarts for every window (:data:`psychometrics.FIT_SEED`, our agreement
        with IBL's statuses; ``compute.stability`` recomputes with others).

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
            digest = window_digest(by_iso, protocols, ephys_dates, n_delay, seed)
        if digest is not None and digest in memo:
            new, target, breakdown = decode_verdict(memo[digest])
        else:
            trials = {w.isoformat(): trials_of(by_date[w]) for w in used}
            with psy.seeded_fits(seed):
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
