"""Shared test setup: no datajoint.json lookups, repository root on the path."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("DJ_IGNORE_CONFIG_FILE", "true")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
