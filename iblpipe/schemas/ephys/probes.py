"""Probe insertions and their trajectories (mirrored from Alyx)."""

from __future__ import annotations

import logging

from iblpipe.schemas import acquisition, columnar, reference, subject  # noqa: F401  (named in table definitions)
from iblpipe.schemas.ephys._schema import schema

logger = logging.getLogger(__name__)


@schema
class ProbeInsertion(columnar.Manual):
    """One probe inserted in one session (Alyx experiments.probeinsertion)."""

    definition = """
    # a probe insertion
    probe_insertion_uuid : uuid     # Alyx primary key (ONE pid)
    ---
    -> acquisition.Session
    probe_name : varchar(32)        # ALF collection name, e.g. probe00
    probe_model = "" : varchar(32)  # e.g. 3B2
    unique index (session_uuid, probe_name)
    """


@schema
class ProbeTrajectory(columnar.Manual):
    """One trajectory estimate of an insertion (Alyx experiments.trajectoryestimate)."""

    definition = """
    # a trajectory estimate; is_best flags the highest-provenance one per insertion
    trajectory_uuid : uuid          # Alyx primary key
    ---
    -> ProbeInsertion
    provenance : varchar(64)        # Planned, Micro-manipulator, Histology track, Ephys aligned histology track
    provenance_rank : int8          # (rank) 10 planned < 30 micromanipulator < 50 histology < 70 ephys aligned
    is_best : bool                  # highest provenance_rank of its insertion
    x : float32                     # (um) ML of the entry point relative to bregma
    y : float32                     # (um) AP of the entry point relative to bregma
    z : float32                     # (um) DV of the entry point relative to bregma
    depth : float32                 # (um) insertion depth along the track
    theta : float32                 # (deg) polar angle from vertical
    phi : float32                   # (deg) azimuth
    roll = 0 : float32              # (deg) rotation about the probe axis
    """
