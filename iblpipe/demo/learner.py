"""A simple generative learner: one mouse's psychometric parameters per training day, and its trials.

Conventions are IBL's: signed contrast in percent (right positive), ``choice == -1``
means the mouse turned the wheel to bring a RIGHT stimulus to the centre (correct
for a right stimulus), ``feedbackType`` is 1 (reward) or -1, ``contrastLeft`` /
``contrastRight`` hold the contrast on the shown side and NaN on the other.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import erf

# Contrast sets (fraction). Training introduces them progressively, by training day.
TRAINING_CONTRAST_STEPS = (  # (first training day, contrasts available from that day)
    (0, (1.0, 0.5)),
    (2, (1.0, 0.5, 0.25)),
    (4, (1.0, 0.5, 0.25, 0.125)),
    (6, (1.0, 0.5, 0.25, 0.125, 0.0625, 0.0)),
)
BIASED_CONTRASTS = (1.0, 0.25, 0.125, 0.0625, 0.0)
HABITUATION_CONTRASTS = (1.0,)

MIN_TRIALS = 300  # (trials) fewest trials of a session
MAX_TRIALS = 1000  # (trials) most trials of a session
UNBIASED_TRIALS = 90  # (trials) probabilityLeft 0.5 at the start of a biased session
BLOCK_MIN, BLOCK_MAX, BLOCK_SCALE = 20, 100, 60.0  # (trials) truncated exponential block lengths
NOGO_TIMEOUT = 60.0  # (s) response window; a no-go trial responds at stimOn + this
INITIAL_THRESHOLD = 70.0  # (% contrast) psychometric threshold of a naive mouse
INITIAL_LAPSE = 0.42  # (fraction) lapse rate of a naive mouse, each side
CORRECT_ITI = 1.5  # (s) feedback to trial end after a reward
ERROR_ITI = 2.5  # (s) feedback to trial end after an error (noise + timeout)
TRAINING_REWARD_START = 3.0  # (uL) reward on day 0 of training
REWARD_MIN = 1.5  # (uL) smallest reward volume


@dataclasses.dataclass(frozen=True)
class LearnerParams:
    """Per-mouse learning parameters (the ground truth of the generative model)."""

    kind: str  # fast | typical | slow | untrainable | unbiasable
    tau: float  # (training days) time constant of learning
    threshold_final: float  # (% contrast) asymptotic psychometric threshold
    lapse_final: float  # (fraction) asymptotic lapse rate (each side)
    bias_initial: float  # (% contrast) side bias of a naive mouse, decays with learning
    block_shift: float  # (% contrast) bias difference between 80/20 blocks once fully biased
    rt_final: float  # (s) median response time at 100 percent contrast when trained
    trials_final: float  # (trials) typical session length when trained

    def at(self, day: int) -> dict[str, float]:
        """Latent parameters on training day ``day`` (0 = first training session)."""
        decay = float(np.exp(-max(day, 0) / self.tau))
        return {
            "threshold": self.threshold_final + (INITIAL_THRESHOLD - self.threshold_final) * decay,
            "lapse": self.lapse_final + (INITIAL_LAPSE - self.lapse_final) * decay,
            "bias": self.bias_initial * float(np.exp(-max(day, 0) / (2 * self.tau))),
            "rt_median": self.rt_final * (1.0 + 6.0 * decay),
            "n_trials": MIN_TRIALS + (self.trials_final - MIN_TRIALS) * (1.0 - decay),
        }


def draw_params(rng: np.random.Generator, kind: str) -> LearnerParams:
    """Learning parameters of one mouse of ``kind``."""
    tau = {"fast": (1.5, 2.5), "typical": (3.0, 6.0), "slow": (6.0, 10.0)}.get(kind, (3.0, 7.0))
    return LearnerParams(
        kind=kind,
        tau=round(float(rng.uniform(*tau)), 3),
        threshold_final=round(float(rng.uniform(35.0, 45.0) if kind == "untrainable" else rng.uniform(8.0, 16.0)), 3),
        lapse_final=round(float(rng.uniform(0.22, 0.3) if kind == "untrainable" else rng.uniform(0.01, 0.04)), 4),
        bias_initial=round(float(rng.normal(0.0, 12.0)), 3),
        block_shift=round(float(rng.uniform(0.0, 2.0) if kind == "unbiasable" else rng.uniform(12.0, 25.0)), 3),
        rt_final=round(float(rng.uniform(0.25, 0.45)), 4),
        trials_final=round(float(rng.uniform(650.0, 950.0)), 1),
    )


def contrast_set(protocol: str, day: int) -> tuple[float, ...]:
    """Contrasts (fraction) shown in a session of ``protocol`` on training day ``day``."""
    if protocol == "habituation":
        return HABITUATION_CONTRASTS
    if protocol in ("biased", "ephys"):
        return BIASED_CONTRASTS
    available = TRAINING_CONTRAST_STEPS[0][1]
    for first_day, contrasts in TRAINING_CONTRAST_STEPS:
        if day >= first_day:
            available = contrasts
    return available


def block_probabilities(rng: np.random.Generator, n: int) -> np.ndarray:
    """probabilityLeft per trial: 0.5 for the first trials, then alternating 0.2/0.8 blocks."""
    p_left = np.full(n, 0.5)
    i, current = UNBIASED_TRIALS, float(rng.choice([0.2, 0.8]))
    while i < n:
        length = int(min(BLOCK_MAX, BLOCK_MIN + rng.exponential(BLOCK_SCALE - BLOCK_MIN)))
        p_left[i : i + length] = current
        i += length
        current = 1.0 - current
    return np.round(p_left, 1)


def p_right(signed_contrast: np.ndarray, bias: np.ndarray, threshold: float, lapse_low: float, lapse_high: float):
    """psychofit's ``erf_psycho_2gammas``: probability of choosing right at ``signed_contrast`` (percent)."""
    return lapse_low + (1.0 - lapse_low - lapse_high) * (erf((signed_contrast - bias) / threshold) + 1.0) / 2.0


def simulate_trials(
    rng: np.random.Generator, params: LearnerParams, protocol: str, day: int, start: float = 0.0
) -> dict[str, np.ndarray]:
    """One session's trials object (ALF attribute name -> array) on training day ``day``."""
    latent = params.at(day)
    n = int(np.clip(round(rng.normal(latent["n_trials"], 80.0)), MIN_TRIALS, MAX_TRIALS))
    contrasts = np.asarray(contrast_set(protocol, day))
    contrast = contrasts[rng.integers(0, contrasts.size, n)]
    biased = protocol in ("biased", "ephys")
    p_left = block_probabilities(rng, n) if biased else np.full(n, 0.5)
    left = rng.random(n) < p_left
    signed = np.where(left, -contrast, contrast) * 100.0
    shift = params.block_shift * min(1.0, 0.3 + 0.1 * day) if biased else 0.0
    # A mouse expecting left (p_left 0.8) needs more right contrast to choose right: the curve moves right.
    bias = (
        latent["bias"] + rng.normal(0.0, 1.5) + np.where(p_left > 0.5, shift / 2, np.where(p_left < 0.5, -shift / 2, 0))
    )
    lapse_low = float(np.clip(latent["lapse"] + rng.normal(0.0, 0.01), 0.0, 0.5))
    lapse_high = float(np.clip(latent["lapse"] + rng.normal(0.0, 0.01), 0.0, 0.5))
    goes_right = rng.random(n) < p_right(signed, bias, latent["threshold"], lapse_low, lapse_high)
    choice = np.where(goes_right, -1, 1)
    nogo = rng.random(n) < 0.5 * latent["lapse"] * 0.1
    choice[nogo] = 0
    correct = (choice == -1) & ~left | (choice == 1) & left
    feedback_type = np.where(correct, 1, -1)

    # Response times: log-normal, slower at low contrast and early in training.
    rt = latent["rt_median"] * (1.0 + 1.5 * (1.0 - contrast)) * rng.lognormal(0.0, 0.5, n)
    rt = np.minimum(rt, NOGO_TIMEOUT)
    rt[nogo] = NOGO_TIMEOUT
    quiescence = 0.4 + rng.exponential(0.35, n)
    movement_fraction = rng.uniform(0.3, 0.8, n)
    reward = round(max(REWARD_MIN, TRAINING_REWARD_START - 0.1 * day), 1) if protocol == "training" else REWARD_MIN
    trial_time = quiescence + rt + np.where(correct, CORRECT_ITI, ERROR_ITI) + 0.01
    starts = start + np.concatenate([[0.0], np.cumsum(trial_time)[:-1]])
    stim_on = starts + quiescence
    response = stim_on + rt
    feedback = response + 1e-4
    first_move = np.where(nogo, np.nan, stim_on + rt * movement_fraction)
    ends = starts + trial_time - 0.01
    return {
        "intervals": np.c_[starts, ends],
        "stimOn_times": stim_on,
        "goCue_times": stim_on + 5e-4,
        "response_times": response,
        "feedback_times": feedback,
        "firstMovement_times": first_move,
        "choice": choice.astype(np.int64),
        "feedbackType": feedback_type.astype(np.int64),
        "contrastLeft": np.where(left, contrast, np.nan),
        "contrastRight": np.where(left, np.nan, contrast),
        "probabilityLeft": p_left,
        "rewardVolume": np.where(correct, reward, 0.0),
    }
