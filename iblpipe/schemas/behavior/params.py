"""``BehaviorParams``: the parameter sets behaviour results are computed under."""

from __future__ import annotations

import hashlib
import json
import uuid

from iblpipe.compute.psychometrics import RT_DEFINITION
from iblpipe.schemas import columnar
from iblpipe.schemas.behavior._schema import schema

CRITERIA_VERSION = "brainbox_2024"  # training criteria of brainbox.behavior.training as of ibllib 4.1
DEFAULT_PARAMS = {"criteria_version": CRITERIA_VERSION, "rt_definition": RT_DEFINITION}
DEFAULT_PARAMS_NAME = "ibl_default"


def params_hash(params: dict) -> uuid.UUID:
    """Content hash of a parameter set (key order does not matter)."""
    return uuid.UUID(hashlib.md5(json.dumps(params, sort_keys=True).encode()).hexdigest())


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

    contents = [{"params_name": DEFAULT_PARAMS_NAME, "params_hash": params_hash(DEFAULT_PARAMS), **DEFAULT_PARAMS}]
