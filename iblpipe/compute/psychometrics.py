"""Psychometrics, performance and reaction times of one set of trials (pure numpy).

Conventions are those of IBL's ``brainbox.behavior.training``:

- signed contrast in percent, stimulus on the right positive;
- a 'rightward' choice is ``choice == -1`` (the wheel turn that brings a right
  stimulus to the centre); no-go trials (``choice == 0``) count as not rightward;
- the fit is ``psychofit.mle_fit_psycho`` with ``erf_psycho_2gammas`` and the
  starting point and bounds brainbox uses for training status; its extra random
  restarts come from a fixed seed, so a re-run gives the same numbers.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import psychofit

from iblpipe.errors import DataError

PROBABILITY_LEFT_BLOCKS = (0.2, 0.5, 0.8)  # (fraction) the probabilityLeft block values, one coding everywhere
BLOCK_TOLERANCE = 1e-6  # (fraction) probabilityLeft within this of a block value belongs to that block
EASY_CONTRAST_PCT = 50.0  # (% contrast) |signed contrast| >= this is an easy trial
RIGHTWARD_CHOICE = -1  # IBL choice code of a rightward response (brainbox: choice == -1)

PSYCHOMETRIC_MODEL = "erf_psycho_2gammas"  # psychofit model: bias, threshold, lapse_low, lapse_high
THRESHOLD_START = 20.0  # (% contrast) starting threshold (brainbox training settings)
LAPSE_START = 0.05  # (fraction) starting lapse rates (brainbox training settings)
THRESHOLD_MAX = 100.0  # (% contrast) upper bound of the threshold (brainbox training settings)
LAPSE_MAX = 1.0  # (fraction) upper bound of the lapse rates (brainbox training settings)
N_FITS = 5  # (count) psychofit fits: the fixed start, then seeded random restarts (psychofit default)
FIT_SEED = 0  # seed of the restarts; the global numpy RNG state is restored afterwards

# The RT definition, stored with every reaction time
RT_DEFINITION = "response_times - stimOn_times; goCue_times where stimOn_times is NaN"


@dataclass(frozen=True, eq=False)
class PsychometricFit:
    """One psychometric fit: erf parameters and the data per signed contrast."""

    bias: float  # (% contrast) horizontal offset of the erf
    threshold: float  # (% contrast) slope of the erf
    lapse_low: float  # (fraction) p(right) at strong left contrasts
    lapse_high: float  # (fraction) 1 - p(right) at strong right contrasts
    contrasts: np.ndarray  # (% contrast) unique signed contrasts, ascending
    n_trials: np.ndarray  # (count) trials per contrast
    p_right: np.ndarray  # (fraction) rightward choices per contrast
    block: float | None = None  # (fraction) probabilityLeft block, None = all trials

    @property
    def parameters(self) -> np.ndarray:
        """``[bias, threshold, lapse_low, lapse_high]`` as psychofit and brainbox return them."""
        return np.array([self.bias, self.threshold, self.lapse_low, self.lapse_high])

    @property
    def n_total(self) -> int:
        """(count) trials in the fit."""
        return int(np.sum(self.n_trials))


@contextlib.contextmanager
def seeded_fits(seed: int = FIT_SEED):
    """Seed numpy's global RNG (psychofit draws its restarts from it), restoring it on exit."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _same_length(where: str, **arrays: np.ndarray) -> int:
    lengths = {name: np.shape(values)[0] for name, values in arrays.items() if values is not None}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        first = next(name for name, n in lengths.items() if n != next(iter(lengths.values())))
        raise DataError(f"{where}: {first} length differs ({detail})")
    return next(iter(lengths.values()))


def signed_contrast(contrast_left: np.ndarray, contrast_right: np.ndarray) -> np.ndarray:
    """Signed contrast in percent, right positive, NaN counted as 0 (brainbox ``get_signed_contrast``)."""
    _same_length("signed_contrast", contrast_left=contrast_left, contrast_right=contrast_right)
    contrast = np.nan_to_num(np.c_[np.asarray(contrast_left, float), np.asarray(contrast_right, float)])
    return np.diff(contrast).flatten() * 100


def block_mask(probability_left: np.ndarray, block: float) -> np.ndarray:
    """Trials of one probabilityLeft block (``block`` one of :data:`PROBABILITY_LEFT_BLOCKS`)."""
    return np.abs(np.asarray(probability_left, float) - block) <= BLOCK_TOLERANCE


def choice_by_contrast(signed_contrast_pct: np.ndarray, choice: np.ndarray) -> tuple[np.ndarray, ...]:
    """Unique contrasts, trials and fraction rightward per contrast (brainbox ``compute_performance(prob_right=True)``)."""
    contrasts, inverse, n = np.unique(signed_contrast_pct, return_inverse=True, return_counts=True)
    rightward = np.bincount(inverse, weights=(np.asarray(choice) == RIGHTWARD_CHOICE), minlength=contrasts.size)
    return contrasts, n, rightward / n


def fit_psychometric(
    signed_contrast_pct: np.ndarray,
    choice: np.ndarray,
    *,
    probability_left: np.ndarray | None = None,
    block: float | None = None,
    seed: int = FIT_SEED,
) -> PsychometricFit:
    """Fit psychofit's ``erf_psycho_2gammas`` to choices, as brainbox ``compute_psychometric`` does.

    Parameters
    ----------
    signed_contrast_pct
        (% contrast) per trial, right positive (:func:`signed_contrast`).
    choice
        IBL choice per trial (-1 rightward, 1 leftward, 0 no-go).
    probability_left, block
        When ``block`` is given, only trials whose ``probability_left`` is that block.
    seed
        Seed of psychofit's random restarts.

    Returns
    -------
    PsychometricFit
        NaN parameters (and empty arrays) when no trial is selected.
    """
    n = _same_length(
        "fit_psychometric", signed_contrast=signed_contrast_pct, choice=choice, probability_left=probability_left
    )
    signed_contrast_pct = np.asarray(signed_contrast_pct, float)
    choice = np.asarray(choice, float)
    if block is not None:
        if probability_left is None:
            raise DataError("fit_psychometric: probability_left is required with block")
        keep = block_mask(probability_left, block)
        signed_contrast_pct, choice = signed_contrast_pct[keep], choice[keep]
        n = int(keep.sum())
    if n == 0:
        empty = np.array([], float)
        return PsychometricFit(np.nan, np.nan, np.nan, np.nan, empty, empty.astype(np.int64), empty, block)
    contrasts, n_trials, p_right = choice_by_contrast(signed_contrast_pct, choice)
    with seeded_fits(seed):
        pars, _ = psychofit.mle_fit_psycho(
            np.vstack([contrasts, n_trials, p_right]),
            P_model=PSYCHOMETRIC_MODEL,
            parstart=np.array([np.mean(contrasts), THRESHOLD_START, LAPSE_START, LAPSE_START]),
            parmin=np.array([np.min(contrasts), 0.0, 0.0, 0.0]),
            parmax=np.array([np.max(contrasts), THRESHOLD_MAX, LAPSE_MAX, LAPSE_MAX]),
            nfits=N_FITS,
        )
    return PsychometricFit(*(float(p) for p in pars), contrasts, n_trials.astype(np.int64), p_right, block)


def fit_psychometric_blocks(
    signed_contrast_pct: np.ndarray,
    choice: np.ndarray,
    probability_left: np.ndarray,
    *,
    seed: int = FIT_SEED,
    blocks: tuple[float, ...] = PROBABILITY_LEFT_BLOCKS,
) -> dict[float, PsychometricFit]:
    """One fit per block of ``blocks`` present in the trials (``compute.blocks.select_blocks`` chooses them)."""
    return {
        block: fit_psychometric(signed_contrast_pct, choice, probability_left=probability_left, block=block, seed=seed)
        for block in blocks
        if np.any(block_mask(probability_left, block))
    }


def reaction_times(stim_on: np.ndarray, response: np.ndarray, go_cue: np.ndarray) -> np.ndarray:
    """(s) Per-trial reaction time as :data:`RT_DEFINITION`: response − stimOn, goCue where stimOn is NaN."""
    _same_length("reaction_times", stim_on=stim_on, response=response, go_cue=go_cue)
    stim_on, go_cue = np.asarray(stim_on, float), np.asarray(go_cue, float)
    onset = np.where(np.isnan(stim_on), go_cue, stim_on)
    return np.asarray(response, float) - onset


def median_rt_by_contrast(signed_contrast_pct: np.ndarray, rt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique contrasts (%), median RT (s, NaN ignored) and trial count per contrast (brainbox ``compute_reaction_time``)."""
    _same_length("median_rt_by_contrast", signed_contrast=signed_contrast_pct, rt=rt)
    rt = np.asarray(rt, float)
    contrasts, inverse, n = np.unique(signed_contrast_pct, return_inverse=True, return_counts=True)
    medians = np.full(contrasts.size, np.nan)
    for i in range(contrasts.size):
        values = rt[inverse == i]
        values = values[np.isfinite(values)]
        if values.size:
            medians[i] = np.median(values)
    return contrasts, medians, n


def performance(feedback_type: np.ndarray, signed_contrast_pct: np.ndarray) -> tuple[float, float]:
    """(fraction) correct over all trials, and over easy trials (brainbox ``compute_performance_easy``).

    Easy: ``|signed contrast| >= EASY_CONTRAST_PCT``. NaN when there is no (easy) trial.
    """
    n = _same_length("performance", feedback_type=feedback_type, signed_contrast=signed_contrast_pct)
    correct = np.asarray(feedback_type) == 1
    easy = np.abs(np.asarray(signed_contrast_pct, float)) >= EASY_CONTRAST_PCT
    perf = float(np.sum(correct) / n) if n else np.nan
    perf_easy = float(np.sum(correct[easy]) / easy.sum()) if easy.any() else np.nan
    return perf, perf_easy


def performance_by_contrast(feedback_type: np.ndarray, signed_contrast_pct: np.ndarray) -> tuple[np.ndarray, ...]:
    """Unique contrasts (%), fraction correct and trial count per contrast (brainbox ``compute_performance``)."""
    _same_length("performance_by_contrast", feedback_type=feedback_type, signed_contrast=signed_contrast_pct)
    contrasts, inverse, n = np.unique(signed_contrast_pct, return_inverse=True, return_counts=True)
    correct = np.bincount(inverse, weights=(np.asarray(feedback_type) == 1), minlength=contrasts.size)
    return contrasts, correct / n, n
