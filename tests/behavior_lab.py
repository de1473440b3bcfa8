"""A tiny ALF behaviour lab made by code: a learner mouse's trials objects, written as ``_ibl_trials.*.npy``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import erf

TRAINING_CONTRASTS = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.0)  # (fraction) IBL contrast set
PROTOCOLS = {
    "habituation": "_iblrig_tasks_habituationChoiceWorld6.4.2",
    "training": "_iblrig_tasks_trainingChoiceWorld6.4.2",
    "biased": "_iblrig_tasks_biasedChoiceWorld6.4.2",
    "ephys": "_iblrig_tasks_ephysChoiceWorld6.4.2",
}
FIRST_UNBIASED_TRIALS = 90  # (count) trials at probabilityLeft 0.5 before the 0.2/0.8 blocks


def make_trials(
    seed: int,
    n_trials: int,
    *,
    bias: float = 0.0,
    threshold: float = 15.0,
    lapse: float = 0.05,
    biased: bool = False,
    block_shift: float = 10.0,
    missing_stim_on: float = 0.02,
) -> dict[str, np.ndarray]:
    """One session's trials object from an erf observer (bias and threshold in percent contrast)."""
    rng = np.random.default_rng(seed)
    prob_left = np.full(n_trials, 0.5)
    if biased:
        block = rng.choice([0.2, 0.8])
        start = FIRST_UNBIASED_TRIALS
        while start < n_trials:
            length = int(rng.integers(20, 100))
            prob_left[start : start + length] = block
            block = 0.2 if block == 0.8 else 0.8
            start += length
    left = rng.random(n_trials) < prob_left
    contrast = rng.choice(TRAINING_CONTRASTS, n_trials)
    contrast_left = np.where(left, contrast, np.nan)
    contrast_right = np.where(left, np.nan, contrast)
    signed = np.where(left, -contrast, contrast) * 100
    shift = np.where(prob_left == 0.2, -block_shift, np.where(prob_left == 0.8, block_shift, 0.0))
    p_right = lapse + (1 - 2 * lapse) * (erf((signed - bias + shift) / threshold) + 1) / 2
    right = rng.random(n_trials) < p_right
    choice = np.where(right, -1, 1).astype(float)
    no_go = rng.random(n_trials) < 0.01
    choice[no_go] = 0
    correct = (right & ~left) | (~right & left)
    correct &= ~no_go
    feedback_type = np.where(correct, 1, -1).astype(float)
    rt = rng.lognormal(np.log(0.4 + 0.6 * (1 - contrast)), 0.4)
    starts = np.cumsum(np.r_[0.0, np.full(n_trials - 1, 1.0) + rt[:-1] + 1.5])
    stim_on = starts + 0.05
    go_cue = stim_on + 0.001
    response = stim_on + rt
    stim_on[rng.random(n_trials) < missing_stim_on] = np.nan
    feedback = response + 0.01
    ends = feedback + 1.0
    return {
        "intervals": np.c_[starts, ends],
        "stimOn_times": stim_on,
        "goCue_times": go_cue,
        "response_times": response,
        "firstMovement_times": response - 0.15,
        "feedback_times": feedback,
        "choice": choice,
        "feedbackType": feedback_type,
        "contrastLeft": contrast_left,
        "contrastRight": contrast_right,
        "probabilityLeft": prob_left,
        "rewardVolume": np.where(correct, 1.5, 0.0),
    }


def write_trials(session: Path, trials: dict[str, np.ndarray]) -> Path:
    """Write a trials object as ``alf/_ibl_trials.<attribute>.npy``; returns the alf folder."""
    alf = session / "alf"
    alf.mkdir(parents=True, exist_ok=True)
    for old in alf.glob("_ibl_trials.*"):
        old.unlink()
    for name, values in trials.items():
        np.save(alf / f"_ibl_trials.{name}.npy", values)
    return alf
