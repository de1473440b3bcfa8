"""``BehaviorParams`` and ``FitParams``: the parameter sets behaviour results are computed under.

Each make reads its parameters from the row it is keyed by: ``ReactionTime`` the RT definition,
``TrainingStatus`` the criteria version, ``ConvergedFit`` the grid, restarts and tolerance,
``StatusStability`` the number of other seeds (and the criteria version). ``PsychometricFit``,
``ConvergedFit`` and ``BehaviorHistory`` (and the tables under it) read no ``BehaviorParams`` field: they
are keyed by it so that one parameter set's results form one tree. Every row's hash is
``compute.params.content_hash``.
"""

from __future__ import annotations

from iblpipe.compute import mle, stability
from iblpipe.compute.params import content_hash
from iblpipe.compute.psychometrics import RT_DEFINITION
from iblpipe.schemas import columnar
from iblpipe.schemas.behavior._schema import schema

CRITERIA_VERSION = "brainbox_2024"  # training criteria of brainbox.behavior.training as of ibllib 4.1
# criteria_version -> the implementation TrainingStatus runs. The thresholds are brainbox's own (the
# statuses must equal ibllib's), so the row names the implementation rather than carrying them.
CRITERIA_VERSIONS = {CRITERIA_VERSION: "brainbox.behavior.training.get_training_status (ibllib 4.1), seeded"}
DEFAULT_PARAMS = {"criteria_version": CRITERIA_VERSION, "rt_definition": RT_DEFINITION}
DEFAULT_PARAMS_NAME = "ibl_default"
params_hash = content_hash  # the one parameter hash (kept under this name for callers of earlier code)

DEFAULT_FIT_PARAMS = {
    "mle_grid_points": mle.GRID_POINTS,
    "mle_restarts": mle.RESTARTS,
    "mle_tolerance": mle.TOLERANCE,
    "stability_seeds": stability.STABILITY_SEEDS,
}
DEFAULT_FIT_PARAMS_NAME = "converged_default"


@schema
class BehaviorParams(columnar.Lookup):
    """One set of behaviour analysis parameters: training criteria version and reaction-time definition."""

    definition = """
    # behaviour analysis parameters; a changed parameter set needs a new name
    params_name : varchar(32)           # e.g. ibl_default
    ---
    params_hash : uuid                  # content hash of criteria_version and rt_definition
    criteria_version : varchar(32)      # brainbox training criteria implemented by iblpipe.compute.training
    rt_definition : varchar(128)        # reaction time: response minus stimOn, goCue when stimOn is missing
    unique index (params_hash)
    """

    contents = [{"params_name": DEFAULT_PARAMS_NAME, "params_hash": content_hash(DEFAULT_PARAMS), **DEFAULT_PARAMS}]


@schema
class FitParams(columnar.Lookup):
    """One set of settings of the converged fit and of the status stability check (issue 20)."""

    definition = """
    # converged maximum-likelihood fit and stability settings; a changed set needs a new name
    fit_params_name : varchar(32)       # e.g. converged_default
    ---
    params_hash : uuid                  # content hash of the values below
    mle_grid_points : int16             # (count) starting thresholds and lapse rates each (compute.mle.start_grid)
    mle_restarts : int16                # (count) best grid starts refined by Nelder-Mead
    mle_tolerance : float64             # (fraction of a bound range, and nats) convergence of each refinement
    stability_seeds : int16             # (count) seeds besides the fixed one each status date is recomputed with
    unique index (params_hash)
    """

    contents = [
        {
            "fit_params_name": DEFAULT_FIT_PARAMS_NAME,
            "params_hash": content_hash(DEFAULT_FIT_PARAMS),
            **DEFAULT_FIT_PARAMS,
        }
    ]


def criteria_of(key: dict) -> str:
    """The criteria version of the ``BehaviorParams`` row of ``key``; ConfigError when no implementation has it."""
    from iblpipe.errors import ConfigError

    version = (BehaviorParams & key).fetch1("criteria_version")
    if version not in CRITERIA_VERSIONS:
        raise ConfigError(
            f"BehaviorParams {key['params_name']}: unknown criteria_version {version!r} "
            f"(implemented: {', '.join(CRITERIA_VERSIONS)}); insert a row with one of those"
        )
    return version
