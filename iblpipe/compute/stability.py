"""Whether a date's training status hangs on psychofit's random restarts (pure; issue 20).

Our status is ibllib's with psychofit's restarts seeded by :data:`psychometrics.FIT_SEED`.
Production ibllib does not seed, so where a criterion sits within psychofit's run-to-run
scatter (~1e-2) of its threshold, IBL's own status of that date is a coin toss. Here the
whole history is recomputed with ``k`` other seeds (:func:`other_seeds`): a date is
*stable* when every seed gives it the same final status, and the set of statuses seen
says what else it could have been. Each window's verdict under each seed is memoised
under ``window_digest(..., seed)``, so ``behavior.StatusMemo`` caches these too and a
nightly run fits only the windows of new sessions.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, NamedTuple

from iblpipe.compute import psychometrics as psy

STABILITY_SEEDS = 4  # (count) seeds besides FIT_SEED each date's status is recomputed with


class DateStability(NamedTuple):
    """One date's status under :data:`psychometrics.FIT_SEED` and under the other seeds."""

    date: datetime.date
    status: str  # the status with FIT_SEED (the one TrainingStatus stores)
    stable: bool  # every seed gave ``status``
    statuses: tuple[str, ...]  # every status seen, FIT_SEED's first, then in the order the seeds gave them
    n_seeds: int  # (count) seeds besides FIT_SEED


def other_seeds(k: int, base: int = psy.FIT_SEED) -> tuple[int, ...]:
    """The ``k`` seeds besides ``base`` a status is recomputed with: ``base + 1 .. base + k``."""
    if k < 0:
        raise ValueError(f"other_seeds: k must be >= 0, got {k}")
    return tuple(base + i for i in range(1, k + 1))


def status_stability(
    sessions: Sequence,
    k: int = STABILITY_SEEDS,
    *,
    memo: MutableMapping[str, dict] | None = None,
    load_trials: Callable[[list[str]], Mapping[str, Mapping[str, Any]]] | None = None,
    reference: Sequence | None = None,
) -> list[DateStability]:
    """Per date of ``training_history(sessions)``, whether ``k`` other seeds give the same status.

    Parameters
    ----------
    sessions, memo, load_trials
        As for :func:`iblpipe.compute.training.training_history` (the memo holds every seed's verdicts).
    k
        Seeds besides FIT_SEED (:func:`other_seeds`).
    reference
        The FIT_SEED history when already computed (``DailyStatus`` list); computed otherwise.
    """
    from iblpipe.compute.training import training_history

    loaded: dict[str, Mapping[str, Any]] = {}

    def load_once(ids: list[str]) -> Mapping[str, Mapping[str, Any]]:
        missing = [i for i in ids if i not in loaded]
        if missing:
            loaded.update(load_trials(missing))
        return {i: loaded[i] for i in ids if i in loaded}

    loader = None if load_trials is None else load_once
    if reference is None:
        reference = training_history(sessions, memo=memo, load_trials=loader)
    seen = {day.date: [day.status] for day in reference}
    for seed in other_seeds(k):
        for day in training_history(sessions, memo=memo, load_trials=loader, seed=seed):
            if day.date not in seen:
                raise ValueError(f"status_stability: date {day.date} is not in the reference history")
            if day.status not in seen[day.date]:
                seen[day.date].append(day.status)
    return [
        DateStability(day.date, day.status, len(seen[day.date]) == 1, tuple(seen[day.date]), k) for day in reference
    ]
