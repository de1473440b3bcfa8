"""A tiny ALF behaviour lab for the behaviour tables: protocols, trials with missing stimOn, ALF writing.

The observer itself is ``tests.behavior_data.make_trials`` (shared with the compute tests).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.behavior_data import make_trials as observer_trials

PROTOCOLS = {
    "habituation": "_iblrig_tasks_habituationChoiceWorld6.4.2",
    "training": "_iblrig_tasks_trainingChoiceWorld6.4.2",
    "biased": "_iblrig_tasks_biasedChoiceWorld6.4.2",
    "ephys": "_iblrig_tasks_ephysChoiceWorld6.4.2",
}
MISSING_STIM_ON = 0.02  # (fraction) trials whose stimOn_times is NaN, so reaction times fall back to goCue


def make_trials(seed: int, n_trials: int, **observer) -> dict[str, np.ndarray]:
    """One session's trials object from the shared erf observer, with a few stimOn times missing."""
    rng = np.random.default_rng(seed)
    trials = observer_trials(rng, n_trials, **observer)
    trials["stimOn_times"][rng.random(n_trials) < MISSING_STIM_ON] = np.nan
    return trials


def write_trials(session: Path, trials: dict[str, np.ndarray]) -> Path:
    """Write a trials object as ``alf/_ibl_trials.<attribute>.npy`` (replacing any); returns the alf folder."""
    alf = session / "alf"
    alf.mkdir(parents=True, exist_ok=True)
    for old in alf.glob("_ibl_trials.*"):
        old.unlink()
    for name, values in trials.items():
        np.save(alf / f"_ibl_trials.{name}.npy", values)
    return alf
