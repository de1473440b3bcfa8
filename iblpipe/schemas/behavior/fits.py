"""Fits a scientist can trust (issue 20): the converged psychometric fit and the stability of each status.

``PsychometricFit`` and ``TrainingStatus`` stay exactly as ibllib computes them with our fixed
seed (our agreement with IBL). Beside them:

- ``ConvergedFit``: per session, the blocks the block rule fitted or skipped (``compute.blocks``),
  and per fitted block (Part ``Block``) the converged maximum-likelihood fit (``compute.mle``)
  with its log-likelihood and that of psychofit's seeded fit, under ``FitParams``;
- ``StatusStability``: per status date, whether ``FitParams.stability_seeds`` other seeds give
  the same status, and the statuses seen (``compute.stability``); the verdicts of every seed are
  cached in ``StatusMemo``, so a nightly run fits only the windows of new sessions.

Databases computed before issue 20 hold fits of blocks the rule now skips: ``iblpipe db migrate``
deletes those sessions' fits (:func:`drop_near_empty_block_fits`) and the next populate refits them.
Converged fits made before psychofit's fit was one of their starts can be below it in log-likelihood:
``iblpipe db migrate`` deletes those (:func:`drop_converged_below_psychofit`) for populate to refit.
"""

from __future__ import annotations

import numpy as np

from iblpipe.schemas import acquisition, columnar  # noqa: F401  (named in table definitions)
from iblpipe.schemas.behavior._schema import schema
from iblpipe.schemas.behavior.histories import (
    TRAINING_TRIAL_ATTRIBUTES,
    BehaviorHistory,
    TrainingStatus,
    _session_inputs,
    load_training_trials,
    status_memo,
)
from iblpipe.schemas.behavior.params import BehaviorParams, FitParams, criteria_of
from iblpipe.schemas.behavior.sessions import PsychometricFit, TrialSet, _trial_arrays
from iblpipe.schemas.frames import to_frame


@schema
class ConvergedFit(columnar.Computed):
    """One session's converged fits: which blocks the block rule fitted and skipped (fits in the Part)."""

    definition = """
    # converged maximum-likelihood erf fits of a session, beside psychofit's (PsychometricFit)
    -> TrialSet
    -> BehaviorParams
    -> FitParams
    ---
    has_blocks : bool                   # the protocol runs probabilityLeft blocks (compute.blocks.has_blocks)
    n_blocks_fitted : int16             # (count) blocks fitted (rows of Block and of PsychometricFit)
    n_blocks_skipped : int16            # (count) blocks present but not fitted: no blocks in the protocol or under 20 trials
    n_trials_skipped : int32            # (count) trials of the skipped blocks
    """

    class Block(columnar.Part):
        """The converged fit of one fitted block, with its log-likelihood and psychofit's."""

        definition = """
        # maximum likelihood from a grid of starts, refined to FitParams.mle_tolerance
        -> master
        -> PsychometricFit
        ---
        bias : float64                  # (percent contrast) horizontal offset of the erf
        threshold : float64             # (percent contrast) slope of the erf
        lapse_low : float64             # (fraction) p(right) at strong left contrasts
        lapse_high : float64            # (fraction) 1 - p(right) at strong right contrasts
        log_likelihood : float64        # (nats) psychofit log-likelihood at these parameters
        psychofit_log_likelihood : float64  # (nats) the same at PsychometricFit parameters; never above log_likelihood
        """

    @property
    def key_source(self):
        # Sessions whose psychofit fits are done: the converged fit refits PsychometricFit's data points.
        return (TrialSet.proj() * BehaviorParams.proj() * FitParams.proj()) & PsychometricFit

    def make_fetch(self, key):
        settings = (FitParams & key).fetch1("mle_grid_points", "mle_restarts", "mle_tolerance")
        fits = to_frame(
            (PsychometricFit & key).proj("bias", "threshold", "lapse_low", "lapse_high"), index=False
        ).sort_values("probability_left")
        points = to_frame((PsychometricFit.Contrast & key).proj("n_trials", "p_right"), index=False).sort_values(
            ["probability_left", "signed_contrast"]
        )
        p_left = _trial_arrays(key, "probability_left")["probability_left"].astype(float)
        protocol = (acquisition.Session & key).fetch1("task_protocol")
        blocks = {
            float(row.probability_left): (
                np.array([row.bias, row.threshold, row.lapse_low, row.lapse_high], float),
                *(
                    points.loc[points["probability_left"] == row.probability_left, c].to_numpy(float)
                    for c in ("signed_contrast", "n_trials", "p_right")
                ),
            )
            for row in fits.itertuples(index=False)
        }
        return tuple(int(v) if i < 2 else float(v) for i, v in enumerate(settings)), blocks, np.sort(p_left), protocol

    def make_compute(self, key, settings, blocks, probability_left, task_protocol):
        from iblpipe.compute import mle
        from iblpipe.compute.blocks import has_blocks, select_blocks
        from iblpipe.compute.psychometrics import LAPSE_MAX, THRESHOLD_MAX

        grid_points, restarts, tolerance = settings
        selection = select_blocks(probability_left, task_protocol)
        out = {}
        for block, (psychofit_pars, contrasts, n_trials, p_right) in blocks.items():
            lower = np.array([contrasts.min(), 0.0, 0.0, 0.0])  # psychofit's bounds, as brainbox sets them
            upper = np.array([contrasts.max(), THRESHOLD_MAX, LAPSE_MAX, LAPSE_MAX])
            # psychofit's fit is a start too: the converged log-likelihood is never below psychofit's
            fit = mle.fit_converged(
                contrasts, n_trials, p_right, lower=lower, upper=upper,
                grid_points=grid_points, restarts=restarts, tolerance=tolerance, starts=psychofit_pars,
            )  # fmt: skip
            out[block] = (fit, mle.log_likelihood(psychofit_pars, contrasts, n_trials, p_right))
        summary = (has_blocks(task_protocol), len(blocks), len(selection.skipped), selection.n_trials_skipped)
        return summary, out

    def make_insert(self, key, summary, fits):
        has_blocks, n_fitted, n_skipped, n_trials_skipped = summary
        self.insert1(
            dict(
                key,
                has_blocks=has_blocks,
                n_blocks_fitted=n_fitted,
                n_blocks_skipped=n_skipped,
                n_trials_skipped=n_trials_skipped,
            )
        )
        self.Block.insert(
            [
                dict(
                    key,
                    probability_left=block,
                    bias=fit.bias,
                    threshold=fit.threshold,
                    lapse_low=fit.lapse_low,
                    lapse_high=fit.lapse_high,
                    log_likelihood=fit.log_likelihood,
                    psychofit_log_likelihood=psychofit_ll,
                )
                for block, (fit, psychofit_ll) in fits.items()
            ]
        )


class _Day:
    """The date and status of a stored TrainingStatus row, as ``compute.stability`` reads a reference day."""

    def __init__(self, date, status):
        self.date, self.status = date, status


@schema
class StatusStability(columnar.Computed):
    """Whether one status date's verdict survives other seeds of psychofit's restarts, and the statuses seen."""

    definition = """
    # TrainingStatus recomputed with FitParams.stability_seeds other seeds (compute.stability)
    -> BehaviorHistory
    -> FitParams
    session_date : date                 # (local date) a TrainingStatus date; plain, as there: one job per history
    ---
    stable : bool                       # every seed gave the stored training_status
    statuses : varchar(255)             # comma-separated statuses seen, the stored one first
    n_seeds : int16                     # (count) seeds besides the fixed one
    """

    @property
    def key_source(self):
        # One make per subject history and fit settings computes every date (like TrainingStatus).
        return BehaviorHistory.proj() * FitParams.proj() & TrainingStatus

    def make(self, key):
        # A plain make, as TrainingStatus: a subject's trials are too many for make_fetch's double fetch.
        from iblpipe.compute.stability import status_stability

        criteria_of(key)
        k = int((FitParams & key).fetch1("stability_seeds"))
        history_key = {"subject_uuid": key["subject_uuid"], "params_name": key["params_name"]}
        days = to_frame((TrainingStatus & history_key).proj("training_status"), index=False)
        reference = [_Day(d, s) for d, s in zip(days["session_date"], days["training_status"], strict=True)]
        reference.sort(key=lambda day: day.date)
        with status_memo(key["subject_uuid"]) as memo:
            result = status_stability(
                _session_inputs(history_key, TRAINING_TRIAL_ATTRIBUTES),
                k,
                memo=memo,
                load_trials=load_training_trials,
                reference=reference,
            )
        self.insert(
            [
                dict(key, session_date=r.date, stable=r.stable, statuses=",".join(r.statuses), n_seeds=r.n_seeds)
                for r in result
            ]
        )


def near_empty_block_sessions() -> list[dict]:
    """Keys (session, params) of PsychometricFit sessions holding a block the block rule no longer fits.

    Rows computed before issue 20 fitted every probabilityLeft value present; deleting those
    sessions' fits (:func:`drop_near_empty_block_fits`) lets the next populate refit them.
    """
    from iblpipe.compute.blocks import MIN_BLOCK_TRIALS, UNBIASED_BLOCK, has_blocks

    query = (PsychometricFit * acquisition.Session.proj("task_protocol")) & f"probability_left <> {UNBIASED_BLOCK}"
    rows = to_frame(query.proj("n_trials", "task_protocol"), index=False)
    pairs = zip(rows["task_protocol"], rows["n_trials"], strict=True)
    stale = rows.loc[np.array([not has_blocks(p) or n < MIN_BLOCK_TRIALS for p, n in pairs], dtype=bool)]
    return stale[["session_uuid", "params_name"]].drop_duplicates().to_dict("records")


def drop_near_empty_block_fits() -> int:
    """Delete the psychometric fits (and converged fits) of :func:`near_empty_block_sessions`; returns their count."""
    keys = near_empty_block_sessions()
    if keys:
        (PsychometricFit & keys).delete(prompt=False, part_integrity="cascade")
    return len(keys)


def converged_below_psychofit() -> list[dict]:
    """Keys of ConvergedFit rows with a block whose log-likelihood is below psychofit's (stored beside it).

    The converged fit starts from psychofit's fit since the issue 20 audit, so it cannot be below it;
    rows made earlier (from the grid alone) can. Deleting them (:func:`drop_converged_below_psychofit`)
    lets the next populate refit them.
    """
    worse = ConvergedFit.Block & "log_likelihood < psychofit_log_likelihood"
    rows = to_frame(worse.proj(), index=False)
    return rows[list(ConvergedFit.primary_key)].drop_duplicates().to_dict("records")


def drop_converged_below_psychofit() -> list[dict]:
    """Delete the converged fits (master rows, their blocks with them) of :func:`converged_below_psychofit`; their keys."""
    keys = converged_below_psychofit()
    if keys:
        (ConvergedFit & keys).delete(prompt=False)
    return keys
