"""The ONE cache source reads every cache version as ONE itself does (issue 14)."""

from __future__ import annotations

import shutil
from pathlib import Path

import one
import pandas as pd
import pytest

from iblpipe.errors import SourceError
from iblpipe.sources.one_cache import load_sessions, read_one_cache

FIXTURES = Path(one.__file__).parent / "tests" / "fixtures"  # ONE's own 1.x cache: integer id_0/id_1, 'project'


@pytest.fixture
def one_1x(tmp_path) -> Path:
    for name in ("sessions.pqt", "datasets.pqt"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path


def _ones_view(cache_dir: Path) -> pd.DataFrame:
    from one.api import One

    sessions = One(cache_dir=cache_dir, mode="local")._cache["sessions"]
    return sessions.set_axis(sessions.index.map(str)).sort_index()


def test_one_1x_fixture_equals_ones_own_view(one_1x):
    raw = pd.read_parquet(one_1x / "sessions.pqt")
    assert "project" in raw.columns and "id" not in raw.columns  # really the 1.x layout
    theirs = _ones_view(one_1x)
    snap = read_one_cache(one_1x)
    sessions = {str(s.session_uuid): s for s in snap.records["session"]}
    assert sorted(sessions) == list(theirs.index) and len(sessions) == 26
    for eid, row in theirs.iterrows():
        ours = sessions[eid]
        assert (ours.session_lab, ours.session_number) == (row["lab"], int(row["number"]))
        assert ours.session_start_time.date() == pd.Timestamp(row["date"]).date()
        assert ours.projects == tuple(p for p in str(row["projects"] or "").split(",") if p)
    nicknames = {s.subject_nickname for s in snap.records["subject"]}
    assert nicknames == set(theirs["subject"])
    assert snap.bad == []


def test_1x_table_without_one_metadata_is_patched_by_one(one_1x, tmp_path):
    """Integer id halves written by plain pandas (no date_created): ONE's patch_tables turns them into uuids."""
    plain = tmp_path / "plain"
    plain.mkdir()
    pd.read_parquet(one_1x / "sessions.pqt").to_parquet(plain / "sessions.pqt")
    assert list(load_sessions(plain)["id"].sort_values()) == list(_ones_view(one_1x).index)


def test_missing_table_names_the_file(tmp_path):
    with pytest.raises(SourceError, match=r"sessions\.pqt: file not found"):
        read_one_cache(tmp_path)
