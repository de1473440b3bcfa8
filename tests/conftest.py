"""Shared test setup: no datajoint.json lookups, repository root on the path."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("DJ_IGNORE_CONFIG_FILE", "true")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


DEMO_LAB = {"labs": 2, "mice": 4, "seed": 0, "max_sessions": 22}  # small and fast; see iblpipe.demo.build


@pytest.fixture(scope="session")
def demo_lab(tmp_path_factory) -> Path:
    """A small synthetic lab (iblpipe.demo.generate with DEMO_LAB), written once per test session.

    Mouse 0 learns fast and is recorded with probe00 and probe01; mouse 1 is a typical
    learner; mice 2 and 3 are untrainable and unbiasable kinds. Returns the lab folder
    (alyx_dump.json, <lab>/Subjects/..., sessions.pqt, datasets.pqt, ground_truth.json).
    """
    from iblpipe.demo import generate

    out = tmp_path_factory.mktemp("demo_lab")
    generate(out, **DEMO_LAB)
    return out
