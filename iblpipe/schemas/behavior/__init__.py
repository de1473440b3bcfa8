"""Behaviour: trials, psychometric fits, reaction times, training status (issues 5, 15).

``Trials`` is one row per trial (``(Trials & key).to_pandas()``: a session's or a mouse's
trials); it is the Part ``TrialSet.Trial`` of ``TrialSet``, one row per session
summarising its trials (the name IBL's pipeline used). Per-session tables
(``TrialSet``, ``PsychometricFit``, ``ReactionTime``) descend from
``acquisition.Session``. Per-subject tables (``DailySummary``, ``TrainingStatus``,
``LearningCurve``) descend from ``BehaviorHistory``, whose Part
``BehaviorHistory.Session`` references every ``TrialSet`` row it was computed from, so:

- deleting a session (or its ``TrialSet``) with ``part_integrity="cascade"``
  deletes the subject's whole history and everything computed from it;
- importing a new session's ``TrialSet`` deletes that subject's history in the
  same transaction.

The next populate recomputes the subject's whole ordered history in one make:
a status is a function of the inputs, never of earlier rows of its own table.
Beside the fits and statuses ibllib computes, ``ConvergedFit`` (the converged maximum-likelihood
fit) and ``StatusStability`` (does a status survive other seeds) are in ``behavior.fits``.
Every ``to_pandas`` takes the columnar path (``schemas.columnar``).
"""

from iblpipe.schemas.behavior._schema import schema
from iblpipe.schemas.behavior.fits import ConvergedFit, StatusStability
from iblpipe.schemas.behavior.histories import (
    TRAINING_TRIAL_ATTRIBUTES,
    BehaviorHistory,
    DailySummary,
    LearningCurve,
    StatusMemo,
    TrainingStatus,
)
from iblpipe.schemas.behavior.params import (
    CRITERIA_VERSION,
    DEFAULT_FIT_PARAMS,
    DEFAULT_FIT_PARAMS_NAME,
    DEFAULT_PARAMS,
    DEFAULT_PARAMS_NAME,
    BehaviorParams,
    FitParams,
    params_hash,
)
from iblpipe.schemas.behavior.sessions import PsychometricFit, ReactionTime, Trials, TrialSet, fetch_trials

__all__ = [
    "schema",
    "CRITERIA_VERSION",
    "DEFAULT_PARAMS",
    "DEFAULT_PARAMS_NAME",
    "BehaviorParams",
    "params_hash",
    "FitParams",
    "DEFAULT_FIT_PARAMS",
    "DEFAULT_FIT_PARAMS_NAME",
    "TrialSet",
    "Trials",
    "fetch_trials",
    "PsychometricFit",
    "ReactionTime",
    "BehaviorHistory",
    "DailySummary",
    "StatusMemo",
    "TrainingStatus",
    "LearningCurve",
    "ConvergedFit",
    "StatusStability",
    "TRAINING_TRIAL_ATTRIBUTES",
]
