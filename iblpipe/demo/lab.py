"""Who is in the synthetic lab: lab names, lab members, mice and their kinds (no files written here)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from iblpipe.demo.learner import LearnerParams, draw_params

LAB_NAMES = (
    "cortexlab",
    "churchlandlab",
    "mainenlab",
    "angelakilab",
    "danlab",
    "hoferlab",
    "mrsicflogellab",
    "wittenlab",
    "zadorlab",
    "steinmetzlab",
)
FIRST_NAMES = ("Alex", "Sam", "Robin", "Kim", "Noa", "Jules", "Charlie", "Dana", "Eli", "Max", "Rene", "Toni")
LAST_NAMES = ("Garcia", "Smith", "Nakamura", "Okafor", "Rossi", "Schmidt", "Dubois", "Silva", "Novak", "Larsen")
# The first mice are of these kinds (mouse 0 is recorded with 2 probes), so even a tiny lab shows every path.
KIND_ORDER = ("fast", "typical", "untrainable", "unbiasable")
KIND_WEIGHTS = {"fast": 0.15, "typical": 0.45, "slow": 0.2, "untrainable": 0.1, "unbiasable": 0.1}
STRAINS = ("C57BL/6J",)
LINES = ("C57BL/6J", "Ai32", "PV-Cre", "Thy1-GCaMP6s")
FIRST_MONDAY = dt.date(2024, 1, 8)  # first possible training day of the demo lab
USERS_PER_LAB = 3


def lab_names(n: int) -> list[str]:
    """``n`` IBL-like lab names (numbered after the first ten)."""
    return [
        LAB_NAMES[i] if i < len(LAB_NAMES) else f"{LAB_NAMES[i % len(LAB_NAMES)]}{i // len(LAB_NAMES)}"
        for i in range(n)
    ]


def lab_users(lab_index: int, lab: str) -> list[dict]:
    """Lab members of one lab: username, first and last names."""
    users = []
    for k in range(USERS_PER_LAB):
        first = FIRST_NAMES[(lab_index * USERS_PER_LAB + k) % len(FIRST_NAMES)]
        last = LAST_NAMES[(lab_index * 7 + k * 3) % len(LAST_NAMES)]
        username = f"{first[0].lower()}{last.lower()}{lab_index}"
        users.append({"username": username, "first_name": first, "last_name": last, "lab": lab})
    return users


@dataclasses.dataclass(frozen=True)
class MouseSpec:
    """One mouse: who it is, and how it learns."""

    index: int  # position in the lab-wide list (seeds its random stream)
    lab: str
    nickname: str
    sex: str
    birth_date: dt.date
    first_day: dt.date  # first session (habituation)
    strain: str
    line: str
    responsible_user: str
    params: LearnerParams
    n_recordings: int  # recording sessions once ready4recording
    n_probes: int  # probes per recording session (1 or 2)
    n_after: int  # further ephysChoiceWorld sessions after the recordings


def mouse_specs(n_labs: int, n_mice: int, seed: int) -> list[MouseSpec]:
    """Every mouse of the lab, deterministic in ``seed``; mouse ``i`` belongs to lab ``i % n_labs``."""
    labs = lab_names(n_labs)
    specs = []
    for i in range(n_mice):
        rng = np.random.default_rng([seed, 1, i])
        lab_index = i % n_labs
        if i < len(KIND_ORDER):
            kind = KIND_ORDER[i]
        else:
            kinds = list(KIND_WEIGHTS)
            kind = kinds[int(rng.choice(len(kinds), p=list(KIND_WEIGHTS.values())))]
        lab = labs[lab_index]
        first_day = FIRST_MONDAY + dt.timedelta(days=int(rng.integers(0, 26)) * 7)
        users = lab_users(lab_index, lab)
        specs.append(
            MouseSpec(
                index=i,
                lab=lab,
                nickname=f"{lab[:3].upper()}_{i + 1:03d}",
                sex=str(rng.choice(["M", "F"])),
                birth_date=first_day - dt.timedelta(days=int(rng.integers(56, 100))),
                first_day=first_day,
                strain=STRAINS[0],
                line=LINES[int(rng.integers(0, len(LINES)))],
                responsible_user=users[int(rng.integers(0, len(users)))]["username"],
                params=draw_params(rng, kind),
                n_recordings=int(rng.integers(1, 4)),
                n_probes=2 if i == 0 else int(rng.integers(1, 3)),
                n_after=int(rng.integers(20, 70)),
            )
        )
    return specs
