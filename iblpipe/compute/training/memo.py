"""Content digests of sessions and status windows, and the verdict encoding of ``behavior.StatusMemo`` (pure)."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from iblpipe.compute import psychometrics as psy
from iblpipe.compute.training.sessions import Criterion, SessionCounts
from iblpipe.compute.trials import alf_trials


@functools.cache
def memo_version(seed: int = psy.FIT_SEED) -> str:
    """What a memoised verdict depends on besides its inputs: brainbox (ibllib) and psychofit versions, fit seed."""
    from importlib.metadata import version

    return f"ibllib {version('ibllib')}, psychofit {version('psychofit')}, seed {int(seed)}"


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
    sessions: Mapping[str, Sequence[str]],
    protocols: Sequence[str],
    ephys_dates: Sequence[str],
    n_delay: int,
    seed: int = psy.FIT_SEED,
) -> str:
    """Content hash (32 hex digits) of one call of ``get_training_status`` under one fit seed.

    ``sessions``: per window date (ISO), the :func:`session_digest` of its sessions in order;
    with the protocols, the ephys-rig dates, n_delay and :func:`memo_version` (which names the
    seed, so the verdicts of other seeds, ``compute.stability``, share the memo).
    """
    inputs = ["window-v2", memo_version(seed), list(protocols), list(ephys_dates), int(n_delay)]
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
