"""The reference training-status procedure (IBL's), run on the generated trials as they are made.

Per date, in date order (``ibllib.pipes.training_status.compute_training_status``):
the trials of the last three dates (all sessions of one date concatenated; habituation
dates count in the window and are then skipped) go to
``brainbox.behavior.training.get_training_status`` with each date's protocol, the
window's ephys-rig dates and the number of window dates delayed >= 15 min; the result
never falls below the previous window date's status. After 40 sessions 'in training'
the 40th is 'untrainable'; after 40 biased sessions never 'ready4ephysrig' the 40th is
'unbiasable' (flag on that date only, as ibllib does).

``psychofit.mle_fit_psycho`` restarts its fits from ``np.random``: the global numpy
seed is set to ``FIT_SEED`` right before each brainbox call (and restored after), so
the statuses are reproducible; a reference run must do the same to agree on
borderline windows.

Where brainbox's answer is already decided by the per-session numbers (performance on
easy trials, trial counts), the psychometric fits are skipped; the result is the same.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from iblpipe.compute.training import DIGEST_KEYS

logger = logging.getLogger(__name__)

STATUS_RANK = {
    "untrainable": -4,
    "unbiasable": -3,
    "not_computed": -2,
    "habituation": -1,
    "in training": 0,
    "trained 1a": 1,
    "trained 1b": 2,
    "ready4ephysrig": 3,
    "ready4delay": 4,
    "ready4recording": 5,
}
LADDER = ("in training", "trained 1a", "trained 1b", "ready4ephysrig", "ready4delay", "ready4recording")
WINDOW_DATES = 3  # (dates) dates whose trials enter one status computation
DELAY_THRESHOLD = 900  # (s) session start delay that counts towards n_delay (15 min)
MAX_SESSIONS_WITHOUT_PROGRESS = 40  # (sessions) untrainable / unbiasable after this many
MIN_PERF_EASY_1A = 0.8  # (fraction correct at |contrast| >= 50 percent) brainbox criterion_1a
MIN_TRIALS_1A = 200  # (trials per session) brainbox criterion_1a
MIN_PERF_EASY_1B = 0.9  # (fraction correct) brainbox criterion_1b / ephys / recording
MIN_TRIALS_1B = 400  # (trials per session) brainbox criterion_1b / ephys / recording
FIT_SEED = 0  # numpy global seed set before each brainbox call: psychofit restarts its fits from np.random
TRIALS_KEYS = DIGEST_KEYS  # brainbox.behavior.training.TRIALS_KEYS (without importing brainbox here)


@dataclasses.dataclass
class DateRecord:
    """One date of a subject: its combined trials and what the status procedure needs."""

    date: str
    protocol: str  # habituation | training | biased | ephys (of the date's last session)
    location: str  # training_rig | ephys_rig
    delay: float  # (s) largest session start delay of the date
    trials: dict  # combined trials of the date (TRIALS_KEYS only)
    n_sessions: int
    status: str = "not_computed"


def perf_easy(trials: dict) -> float:
    """brainbox ``compute_performance_easy``: fraction correct at |contrast| >= 50 percent (NaN if none)."""
    signed = np.diff(np.nan_to_num(np.c_[trials["contrastLeft"], trials["contrastRight"]])).ravel() * 100
    easy = np.abs(signed) >= 50
    return float(np.sum(trials["feedbackType"][easy] == 1) / easy.sum()) if easy.any() else float("nan")


def _decided_without_fits(window: list[DateRecord], protocols: list[str], ephys_dates: list[str]) -> str | None:
    """The brainbox status when the per-session numbers decide it (same answer, no fits), else None."""
    perf = np.array([perf_easy(r.trials) for r in window])
    n = np.array([r.trials["choice"].size for r in window])
    if all(p == "training" for p in protocols):
        if not (np.all(perf > MIN_PERF_EASY_1A) and np.all(n > MIN_TRIALS_1A)):
            return "in training"
        return None
    if any(p == "training" for p in protocols):
        return "trained 1b"
    if not ephys_dates and not (np.all(perf > MIN_PERF_EASY_1B) and np.all(n > MIN_TRIALS_1B)):
        return "trained 1b"
    return None


def window_status(window: list[DateRecord]) -> tuple[str, list[str], int]:
    """brainbox status of the last window of dates (habituation already dropped).

    Returns the status, the window's ephys-rig dates and its n_delay.
    """
    from brainbox.behavior.training import get_training_status

    protocols = [r.protocol for r in window]
    ephys_dates = [r.date for r in window if r.location == "ephys_rig"]
    n_delay = int(sum(r.delay >= DELAY_THRESHOLD for r in window))
    status = _decided_without_fits(window, protocols, ephys_dates)
    if status is None:
        trials = {r.date: r.trials for r in window}
        state = np.random.get_state()
        np.random.seed(FIT_SEED)
        try:
            with np.errstate(all="ignore"):
                status, _, _ = get_training_status(trials, protocols, ephys_dates, n_delay)
        finally:
            np.random.set_state(state)
    return status, ephys_dates, n_delay


class StatusTracker:
    """Feeds dates in order and returns each date's status, as ibllib computes it."""

    def __init__(self) -> None:
        self.dates: list[DateRecord] = []
        self.in_training_sessions = 0
        self.biased_sessions = 0
        self.reached_ephysrig = False
        self.flagged: set[str] = set()

    def add(self, record: DateRecord) -> str:
        """Append a date (after the previous ones) and return its status."""
        self.dates.append(record)
        if record.protocol == "habituation":
            record.status = "habituation"
            return record.status
        window = [r for r in self.dates[-WINDOW_DATES:] if r.protocol != "habituation"]
        previous = [r.status for r in window[:-1]]
        best = max((r.status for r in self.dates[:-1]), key=STATUS_RANK.__getitem__, default="not_computed")
        if STATUS_RANK[best] >= STATUS_RANK["ready4recording"]:
            status = "ready4recording"  # the top status cannot be passed; brainbox would not change it
        else:
            status, _, _ = window_status(window)
        old = previous[-1] if previous else "not_computed"
        if STATUS_RANK[old] > STATUS_RANK[status]:
            status = old
        record.status = status
        # Counting rules for the end-of-history flags (ibllib counts sessions, not dates).
        if status == "in training":
            self.in_training_sessions += record.n_sessions
        if record.protocol == "biased":
            self.biased_sessions += record.n_sessions
        if STATUS_RANK[status] >= STATUS_RANK["ready4ephysrig"]:
            self.reached_ephysrig = True
        if "untrainable" not in self.flagged and self.in_training_sessions >= MAX_SESSIONS_WITHOUT_PROGRESS:
            self.flagged.add("untrainable")
            record.status = "untrainable"
        elif (
            "unbiasable" not in self.flagged
            and not self.reached_ephysrig
            and self.biased_sessions >= MAX_SESSIONS_WITHOUT_PROGRESS
        ):
            self.flagged.add("unbiasable")
            record.status = "unbiasable"
        # Keep only what later windows need.
        for r in self.dates[:-WINDOW_DATES]:
            r.trials = {}
        return record.status

    def max_rank(self) -> int:
        """Highest ladder rank reached so far."""
        return max((STATUS_RANK[r.status] for r in self.dates), default=-2)
