"""Learning curve and daily summary of one subject (pure)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from iblpipe.compute.training.memo import session_counts
from iblpipe.compute.training.sessions import HABITUATION, PROGRESSION, STATUS_RANK, DailyStatus, SessionInput, _rows
from iblpipe.errors import DataError


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
