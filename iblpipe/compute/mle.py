"""The converged maximum-likelihood psychometric fit (pure numpy/scipy; issue 20).

psychofit's ``mle_fit_psycho`` (what brainbox and our statuses use) starts Nelder-Mead
once from a fixed point and then from random points of the global RNG, and stops at
its default tolerance (~1e-4): two runs differ by ~1e-2 in the parameters. This fit
maximises the same likelihood, under the same bounds, from deterministic starts:

1. the log-likelihood is evaluated on a grid of starts (:func:`start_grid`: bias halfway
   between neighbouring contrasts, ``grid_points`` thresholds and lapse rates) and the
   ``restarts`` best grid points are kept;
2. Nelder-Mead runs from each (in coordinates scaled to the unit box) until
   parameters move less than ``tolerance`` (fraction of each bound's range) and the
   log-likelihood less than ``tolerance``; it is restarted from its own result until a
   restart gains less than ``tolerance`` (Nelder-Mead's simplex can collapse early);
3. the best of those is the fit.

Extra ``starts`` (``ConvergedFit`` passes psychofit's seeded parameters) are refined the same
way after the grid's, and each is kept as it is if nothing refined beats it: the fit's
log-likelihood is never below that of any start given, by construction. The grid alone can
miss an optimum psychofit finds (lapses summing to more than 1: an inverted curve).

The log-likelihood is psychofit's: ``sum n (p log P + (1 - p) log(1 - P))`` over signed
contrasts (``-psychofit.neg_likelihood``), so the two are comparable number for number.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize
from scipy.special import erf

GRID_POINTS = 5  # (count) starting thresholds and lapse rates each on the grid (biases come from the contrasts)
RESTARTS = 6  # (count) best grid points refined by Nelder-Mead
TOLERANCE = 1e-10  # (fraction of a bound's range, and nats of log-likelihood) convergence of each refinement
MAX_POLISH = 20  # (count) Nelder-Mead restarts from its own result before giving up on a refinement
MAX_EVALUATIONS = 20_000  # (count) likelihood evaluations per Nelder-Mead run
THRESHOLD_GRID_MIN = 0.5  # (% contrast) smallest threshold of the starting grid
THRESHOLD_FLOOR = 1e-6  # (% contrast) smallest threshold tried: at 0 the erf divides by zero
BOX = [(0.0, 1.0)] * 4  # the bounds scaled to the unit box, where Nelder-Mead searches
PROB_EPS = np.finfo(float).eps  # (probability) P clipped to [eps, 1 - eps] before the log, as psychofit does


class ConvergedFit(NamedTuple):
    """The maximum-likelihood ``erf_psycho_2gammas`` parameters and their log-likelihood."""

    bias: float  # (% contrast) horizontal offset of the erf
    threshold: float  # (% contrast) slope of the erf
    lapse_low: float  # (fraction) p(right) at strong left contrasts
    lapse_high: float  # (fraction) 1 - p(right) at strong right contrasts
    log_likelihood: float  # (nats) psychofit's log-likelihood at these parameters
    n_evaluations: int  # (count) likelihood evaluations of all refinements

    @property
    def parameters(self) -> np.ndarray:
        """``[bias, threshold, lapse_low, lapse_high]`` in psychofit's order."""
        return np.array([self.bias, self.threshold, self.lapse_low, self.lapse_high])


def erf_2gammas(pars: np.ndarray, contrasts: np.ndarray) -> np.ndarray:
    """psychofit's ``erf_psycho_2gammas`` for one parameter vector or a stack of them (rows)."""
    pars = np.atleast_2d(np.asarray(pars, float))
    bias, threshold, low, high = (pars[:, i : i + 1] for i in range(4))
    curve = low + (1 - low - high) * (erf((np.asarray(contrasts, float)[None, :] - bias) / threshold) + 1) / 2
    return curve


def log_likelihood(pars: np.ndarray, contrasts: np.ndarray, n_trials: np.ndarray, p_right: np.ndarray) -> np.ndarray:
    """(nats) psychofit's log-likelihood of the data under one parameter vector (a float) or each row of a stack."""
    probs = np.clip(erf_2gammas(pars, contrasts), PROB_EPS, 1 - PROB_EPS)
    n, p = np.asarray(n_trials, float)[None, :], np.asarray(p_right, float)[None, :]
    values = np.sum(n * (p * np.log(probs) + (1 - p) * np.log(1 - probs)), axis=1)
    return float(values[0]) if np.ndim(pars) == 1 else values


def start_grid(contrasts: np.ndarray, lower: np.ndarray, upper: np.ndarray, grid_points: int) -> np.ndarray:
    """The starting vectors, as rows: bias halfway between neighbouring contrasts, ``grid_points`` thresholds
    and lapses each, denser near 0.

    Threshold is spaced geometrically from :data:`THRESHOLD_GRID_MIN` (a near-step curve is a
    common optimum of small blocks), lapses quadratically (they are mostly small).
    """
    steps = (np.arange(grid_points) + 0.5) / grid_points  # inside (0, 1)
    levels = np.unique(np.clip(contrasts, lower[0], upper[0]))
    if levels.size > 1:  # between each pair of neighbouring contrasts: the places a steep curve can cross 0.5
        bias = (levels[:-1] + levels[1:]) / 2
    else:
        bias = lower[0] + steps * (upper[0] - lower[0])
    top = max(upper[1], THRESHOLD_GRID_MIN)
    threshold = np.clip(
        np.geomspace(THRESHOLD_GRID_MIN, top, grid_points + 1)[:-1]
        * np.sqrt(top / THRESHOLD_GRID_MIN) ** (1 / grid_points),
        lower[1],
        upper[1],
    )
    low = lower[2] + steps**2 * (upper[2] - lower[2])
    high = lower[3] + steps**2 * (upper[3] - lower[3])
    return np.array(list(itertools.product(bias, threshold, low, high)))


def _check(contrasts, n_trials, p_right, lower, upper) -> None:
    shapes = {"contrasts": np.shape(contrasts), "n_trials": np.shape(n_trials), "p_right": np.shape(p_right)}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"fit_converged: n_trials and p_right must have the shape of contrasts ({shapes})")
    if not np.size(contrasts):
        raise ValueError("fit_converged: contrasts is empty (no trial to fit)")
    if np.any(~np.isfinite(p_right)) or np.any((np.asarray(p_right) < 0) | (np.asarray(p_right) > 1)):
        raise ValueError("fit_converged: p_right must be finite fractions in [0, 1]")
    if lower.shape != (4,) or upper.shape != (4,) or np.any(upper < lower):
        raise ValueError("fit_converged: bounds must be 4 values each, upper >= lower")


def fit_converged(
    contrasts: np.ndarray,
    n_trials: np.ndarray,
    p_right: np.ndarray,
    *,
    lower: np.ndarray,
    upper: np.ndarray,
    grid_points: int = GRID_POINTS,
    restarts: int = RESTARTS,
    tolerance: float = TOLERANCE,
    starts: np.ndarray | None = None,
) -> ConvergedFit:
    """Maximum-likelihood ``erf_psycho_2gammas`` fit from deterministic starts (see the module docstring).

    Parameters
    ----------
    contrasts, n_trials, p_right
        Per signed contrast (% contrast): trials and fraction rightward (``psychometrics.choice_by_contrast``).
    lower, upper
        Bounds of ``[bias, threshold, lapse_low, lapse_high]`` (psychofit's ``parmin`` / ``parmax``).
    grid_points, restarts, tolerance
        Starting values per parameter, grid points refined, convergence tolerance.
    starts
        Further starting vectors ``[bias, threshold, lapse_low, lapse_high]`` (rows; psychofit's fit),
        each refined after the grid's; the result's log-likelihood is at least each one's.

    Returns
    -------
    ConvergedFit
        A deterministic function of its inputs: the same arrays give the same numbers.
    """
    bounds = np.asarray(lower, float), np.asarray(upper, float)
    lower, upper = bounds[0].copy(), bounds[1]
    _check(contrasts, n_trials, p_right, lower, upper)
    extra = np.zeros((0, 4)) if starts is None else np.atleast_2d(np.asarray(starts, float))
    if extra.shape[1:] != (4,) or np.any(~np.isfinite(extra)):
        raise ValueError("fit_converged: starts must be finite rows of 4 parameters")
    if grid_points < 2 or restarts < 1 or not tolerance > 0:
        raise ValueError("fit_converged: grid_points >= 2, restarts >= 1 and tolerance > 0 are required")
    lower[1] = max(lower[1], THRESHOLD_FLOOR)

    def to_pars(u: np.ndarray) -> np.ndarray:
        return lower + np.clip(u, 0.0, 1.0) * (upper - lower)

    x, n = np.asarray(contrasts, float), np.asarray(n_trials, float)
    n_right, n_left = n * np.asarray(p_right, float), n * (1 - np.asarray(p_right, float))

    def cost(u: np.ndarray) -> float:  # -log_likelihood of one vector, without the stacking overhead
        bias, threshold, low, high = to_pars(u)
        probs = low + (1 - low - high) * (erf((x - bias) / threshold) + 1) / 2
        probs = np.minimum(np.maximum(probs, PROB_EPS), 1 - PROB_EPS)
        return -float(n_right @ np.log(probs) + n_left @ np.log(1 - probs))

    # 1. the grid (its points inside the box: on a face the simplex would stick)
    grid = start_grid(contrasts, lower, upper, grid_points)
    values = -log_likelihood(grid, contrasts, n_trials, p_right)
    order = np.lexsort((np.arange(len(grid)), values))  # ties broken by grid position: deterministic
    width = np.where(upper > lower, upper - lower, 1.0)  # a fixed parameter (one contrast: bias) stays at its bound
    units = np.vstack([grid[order[:restarts]], extra]) - lower
    units = np.clip(units / width, 0.0, 1.0)  # extra starts outside the bounds are moved onto them
    # 2. refine each start until a restart of the simplex gains less than the tolerance
    best_u, best_cost, evaluations = None, np.inf, 0
    options = {"xatol": tolerance, "fatol": tolerance, "maxfev": MAX_EVALUATIONS, "adaptive": True}
    for start in units:
        u, value = start, cost(start)
        for _ in range(MAX_POLISH):
            result = minimize(cost, u, method="Nelder-Mead", bounds=BOX, options=options)
            evaluations += int(result.nfev)
            gained = value - float(result.fun)
            if result.fun <= value:
                u, value = np.clip(result.x, 0.0, 1.0), float(result.fun)
            if gained < tolerance:
                break
        if value < best_cost:
            best_u, best_cost = u, value
    pars = to_pars(best_u)
    evaluations += len(grid)
    best = log_likelihood(pars, contrasts, n_trials, p_right)
    if len(extra):  # 3. a start as given wins if no refinement beats it (the unit box and cost() round differently)
        given = log_likelihood(extra, contrasts, n_trials, p_right)
        evaluations += len(extra)
        inside = np.all((extra >= bounds[0]) & (extra <= bounds[1]), axis=1) & np.isfinite(given)
        given = np.where(inside, given, -np.inf)
        if np.max(given) > best:
            pars, best = extra[int(np.argmax(given))], float(np.max(given))
    return ConvergedFit(*(float(p) for p in pars), best, evaluations)
