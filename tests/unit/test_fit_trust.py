"""Issue 20 compute parts: the converged MLE against psychofit, the near-empty block rule, verdict stability."""

from __future__ import annotations

import datetime

import numpy as np
import psychofit
import pytest

from iblpipe.compute import blocks, mle, stability
from iblpipe.compute import psychometrics as psy
from iblpipe.compute import training as tr
from tests.behavior_data import make_trials

CONTRASTS = np.array([-100.0, -25.0, -12.5, -6.25, 0.0, 6.25, 12.5, 25.0, 100.0])
PARTIAL_SETS = (
    np.array([-100.0, -50.0, 50.0, 100.0]),
    np.array([-100.0, -50.0, -25.0, -12.5, 12.5, 25.0, 50.0, 100.0]),
)
N_CASES = 6  # small random data sets on the full contrast set
N_HIGH_LAPSE_CASES = 4  # on the partial sets of early training, lapses up to HIGH_LAPSE
HIGH_LAPSE = 0.5  # (fraction) largest generative lapse of those cases
N_PSYCHOFIT_SEEDS = 12  # psychofit runs (5 fits each) per data set
# 43 trials on the full set where psychofit's seeded optimum is an inverted curve (lapses summing to
# more than 1) that no start of the grid reaches (found by the issue 20 audit)
INVERTED_N = np.array([7, 3, 2, 7, 10, 4, 7, 2, 1], float)
INVERTED_P = np.array([4 / 7, 1 / 3, 0.5, 3 / 7, 0.7, 0.75, 4 / 7, 1.0, 0.0])


def _bounds(contrasts):
    lower = np.array([contrasts.min(), 0.0, 0.0, 0.0])
    upper = np.array([contrasts.max(), psy.THRESHOLD_MAX, psy.LAPSE_MAX, psy.LAPSE_MAX])
    return lower, upper


def _psychofit(contrasts, n, p, seed):
    """psychofit's fit as brainbox and PsychometricFit make it (seeded): parameters and log-likelihood."""
    lower, upper = _bounds(contrasts)
    with psy.seeded_fits(seed):
        return psychofit.mle_fit_psycho(
            np.vstack([contrasts, n, p]),
            P_model=psy.PSYCHOMETRIC_MODEL,
            parstart=np.array([contrasts.mean(), psy.THRESHOLD_START, psy.LAPSE_START, psy.LAPSE_START]),
            parmin=lower,
            parmax=upper,
            nfits=psy.N_FITS,
        )


def _converged(contrasts, n, p):
    """The converged fit as ConvergedFit makes it: psychofit's seeded fit is a start."""
    pars, _ = _psychofit(contrasts, n, p, psy.FIT_SEED)
    lower, upper = _bounds(contrasts)
    return mle.fit_converged(contrasts, n, p, lower=lower, upper=upper, starts=pars)


def _cases():
    rng = np.random.default_rng(20)
    out = []
    for i in range(N_CASES):
        n = rng.integers(1, 4, CONTRASTS.size) if i % 2 == 0 else rng.integers(5, 40, CONTRASTS.size)
        truth = [rng.uniform(-20, 20), rng.uniform(5, 40), rng.uniform(0, 0.3), rng.uniform(0, 0.3)]
        p = rng.binomial(n, mle.erf_2gammas(truth, CONTRASTS)[0]) / n
        out.append((CONTRASTS, n.astype(float), p))
    for i in range(N_HIGH_LAPSE_CASES):
        contrasts = PARTIAL_SETS[i % len(PARTIAL_SETS)]
        n = rng.integers(1, 8, contrasts.size) if i < 2 else rng.integers(5, 40, contrasts.size)
        truth = [rng.uniform(-30, 30), rng.uniform(5, 60), rng.uniform(0, HIGH_LAPSE), rng.uniform(0, HIGH_LAPSE)]
        p = rng.binomial(n, mle.erf_2gammas(truth, contrasts)[0]) / n
        out.append((contrasts, n.astype(float), p))
    return out


@pytest.fixture(scope="module")
def fits():
    return [(c, n, p, _converged(c, n, p)) for c, n, p in _cases()]


def test_log_likelihood_is_psychofits(fits):
    for c, n, p, fit in fits:
        data = np.vstack([c, n, p])
        expected = -psychofit.neg_likelihood(fit.parameters, data, "erf_psycho_2gammas", *_bounds(c))
        assert fit.log_likelihood == pytest.approx(expected, abs=1e-12)


def test_converged_likelihood_at_least_psychofits_best_over_seeds(fits):
    """psychofit's own seed is a start (never below it by construction); the other seeds are only tested."""
    for c, n, p, fit in fits:
        best = max(_psychofit(c, n, p, seed)[1] for seed in range(N_PSYCHOFIT_SEEDS))
        assert fit.log_likelihood >= best - 1e-9, (fit, best)


def test_converged_likelihood_at_least_psychofits_where_the_grid_misses_its_optimum():
    pars, psychofit_ll = _psychofit(CONTRASTS, INVERTED_N, INVERTED_P, psy.FIT_SEED)
    lower, upper = _bounds(CONTRASTS)
    grid_only = mle.fit_converged(CONTRASTS, INVERTED_N, INVERTED_P, lower=lower, upper=upper)
    assert pars[2] + pars[3] > 1 and grid_only.log_likelihood < psychofit_ll - 0.05  # the data still shows the gap
    fit = _converged(CONTRASTS, INVERTED_N, INVERTED_P)
    assert fit.log_likelihood >= mle.log_likelihood(pars, CONTRASTS, INVERTED_N, INVERTED_P)
    assert fit.log_likelihood == pytest.approx(-28.3456, abs=1e-4)
    assert fit.lapse_low + fit.lapse_high > 1


def test_converged_fit_is_reproducible(fits):
    for c, n, p, fit in fits:
        again = _converged(c, n, p)
        assert np.allclose(again.parameters, fit.parameters, rtol=0, atol=1e-6)
        assert again.log_likelihood == fit.log_likelihood


def test_well_determined_fit_does_not_depend_on_the_starts():
    """Many trials: a smaller grid and fewer restarts reach the same optimum to 1e-6 (converged, not just repeated)."""
    rng = np.random.default_rng(5)
    n = np.full(CONTRASTS.size, 200.0)
    p = rng.binomial(200, mle.erf_2gammas([3.0, 15.0, 0.08, 0.12], CONTRASTS)[0]) / 200
    lower, upper = _bounds(CONTRASTS)
    a = mle.fit_converged(CONTRASTS, n, p, lower=lower, upper=upper)
    b = mle.fit_converged(CONTRASTS, n, p, lower=lower, upper=upper, grid_points=3, restarts=2)
    assert np.allclose(a.parameters, b.parameters, rtol=0, atol=1e-6)
    assert abs(a.bias - 3.0) < 3 and abs(a.threshold - 15.0) < 5


def test_fit_converged_checks_inputs():
    lower, upper = _bounds(CONTRASTS)
    with pytest.raises(ValueError, match="p_right"):
        mle.fit_converged(CONTRASTS, np.ones(9), np.ones(8), lower=lower, upper=upper)
    with pytest.raises(ValueError, match="empty"):
        mle.fit_converged(np.zeros(0), np.zeros(0), np.zeros(0), lower=lower, upper=upper)
    with pytest.raises(ValueError, match="restarts"):
        mle.fit_converged(CONTRASTS, np.ones(9), np.full(9, 0.5), lower=lower, upper=upper, restarts=0)
    with pytest.raises(ValueError, match="starts"):
        mle.fit_converged(CONTRASTS, np.ones(9), np.full(9, 0.5), lower=lower, upper=upper, starts=np.ones(3))


# ---------------------------------------------------------------- the block rule

TRAINING = "_iblrig_tasks_trainingChoiceWorld6.4.2"
BIASED = "_iblrig_tasks_biasedChoiceWorld6.4.2"


def _scattered_training_p_left():
    """A training session: 0.5 everywhere but a few trials at 0.2 and 0.8 (as real training sessions carry)."""
    p_left = np.full(500, 0.5)
    p_left[[10, 200]] = 0.2
    p_left[300:334] = 0.8  # 34 trials: the largest such 'block' seen in real data
    return p_left


def test_training_session_fits_only_its_unbiased_block():
    selection = blocks.select_blocks(_scattered_training_p_left(), TRAINING)
    assert selection == blocks.BlockSelection((0.5,), (0.2, 0.8), 36)


def test_biased_session_fits_blocks_with_enough_trials():
    trials = make_trials(np.random.default_rng(1), 400, biased=True, n_unbiased=90)
    assert blocks.select_blocks(trials["probabilityLeft"], BIASED) == blocks.BlockSelection((0.2, 0.5, 0.8), (), 0)
    short = np.r_[np.full(90, 0.5), np.full(blocks.MIN_BLOCK_TRIALS - 1, 0.2), np.full(60, 0.8)]
    selection = blocks.select_blocks(short, BIASED)
    assert selection == blocks.BlockSelection((0.5, 0.8), (0.2,), blocks.MIN_BLOCK_TRIALS - 1)


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        ("_iblrig_tasks_biasedChoiceWorld6.4.2", True),
        ("_iblrig_tasks_ephysChoiceWorld6.4.2", True),
        ("_iblrig_tasks_imagingChoiceWorld8.0.0", True),
        ("ccu_neuromodulatorChoiceWorld", True),
        ("_iblrig_tasks_trainingChoiceWorld6.4.2", False),
        ("_iblrig_tasks_advancedChoiceWorld8.0.0", False),
        ("_iblrig_tasks_habituationChoiceWorld6.4.2", False),
        ("some_other_task", False),
        (None, False),
    ],
)
def test_which_protocols_have_blocks(protocol, expected):
    assert blocks.has_blocks(protocol) is expected


# ---------------------------------------------------------------- verdict stability over seeds

BIASED_LAPSE = 0.07  # (fraction) generative lapse: the 0.2/0.8 block lapses land near the 0.1 ephys limit
FLIPPING_DATA_SEED = 13  # data whose 0.2/0.8 lapses sit within psychofit's scatter of 0.1 (found by scanning 0..13)
STEADY_DATA_SEED = 12  # data of the same kind whose status no seed changes


def _biased_history(data_seed: int):
    rng = np.random.default_rng(data_seed)
    first = datetime.date(2024, 1, 1)
    return [
        tr.SessionInput(
            first + datetime.timedelta(days=i),
            BIASED,
            make_trials(rng, 600, biased=True, bias=0.0, threshold=10.0, lapse=BIASED_LAPSE),
            session_id=f"s{i}",
        )
        for i in range(3)
    ]


def test_window_whose_verdict_flips_with_the_seed_is_flagged():
    sessions = _biased_history(FLIPPING_DATA_SEED)
    memo = {}
    result = stability.status_stability(sessions, stability.STABILITY_SEEDS, memo=memo)
    reference = tr.training_history(sessions)
    assert [r.status for r in result] == [d.status for d in reference]  # FIT_SEED's status is kept
    flagged = [r for r in result if not r.stable]
    assert flagged and all(len(r.statuses) > 1 and r.statuses[0] == r.status for r in flagged)
    assert {"trained_1b", "ready4ephysrig"} <= set(flagged[-1].statuses)
    # every seed's verdicts are memoised: a second run fits nothing and gives the same answer
    n_memo = len(memo)
    assert n_memo == 3 * (1 + stability.STABILITY_SEEDS)
    assert stability.status_stability(sessions, stability.STABILITY_SEEDS, memo=memo) == result
    assert len(memo) == n_memo


def test_window_whose_verdict_does_not_flip_is_not_flagged():
    result = stability.status_stability(_biased_history(STEADY_DATA_SEED), stability.STABILITY_SEEDS)
    assert result and all(r.stable and r.statuses == (r.status,) for r in result)
    assert all(r.n_seeds == stability.STABILITY_SEEDS for r in result)


def test_other_seeds():
    assert stability.other_seeds(3) == (psy.FIT_SEED + 1, psy.FIT_SEED + 2, psy.FIT_SEED + 3)
    assert stability.other_seeds(0) == ()
    with pytest.raises(ValueError, match="k must be"):
        stability.other_seeds(-1)


def test_a_block_with_one_contrast_fits_with_the_bias_at_that_contrast():
    contrasts, n, p = np.array([100.0]), np.array([12.0]), np.array([0.75])
    lower = np.array([100.0, 0.0, 0.0, 0.0])
    upper = np.array([100.0, psy.THRESHOLD_MAX, psy.LAPSE_MAX, psy.LAPSE_MAX])
    fit = mle.fit_converged(contrasts, n, p, lower=lower, upper=upper)
    assert fit.bias == 100.0 and np.isfinite(fit.log_likelihood)
    best = 12 * (0.75 * np.log(0.75) + 0.25 * np.log(0.25))  # the saturated likelihood: P = 0.75 exactly
    assert fit.log_likelihood == pytest.approx(best, abs=1e-8)
