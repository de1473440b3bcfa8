"""ONE's own 1.x fixture cache ingests through `iblpipe ingest --source one-cache:DIR` (issue 14)."""

from __future__ import annotations

import shutil
from pathlib import Path

import one

from iblpipe.schemas import acquisition, subject

FIXTURES = Path(one.__file__).parent / "tests" / "fixtures"  # ONE 1.x tables: integer id_0/id_1, 'project'


def test_one_1x_fixture_ingests(prefix, tmp_path, run_cli):
    from one.api import One

    for name in ("sessions.pqt", "datasets.pqt"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    theirs = One(cache_dir=tmp_path, mode="local")._cache["sessions"]
    result = run_cli("ingest", "--prefix", prefix, "--source", f"one-cache:{tmp_path}")
    assert result.returncode == 0, result.stderr
    rows = (acquisition.Session * subject.Subject).to_dicts()
    assert sorted(str(r["session_uuid"]) for r in rows) == sorted(map(str, theirs.index)) and len(rows) == 26
    by_id = {str(r["session_uuid"]): r for r in rows}
    for eid, row in theirs.iterrows():
        ours = by_id[str(eid)]
        assert (ours["session_lab"], ours["subject_nickname"], ours["session_number"]) == (
            row["lab"],
            row["subject"],
            int(row["number"]),
        )
    again = run_cli("ingest", "--prefix", prefix, "--source", f"one-cache:{tmp_path}")
    assert again.returncode == 0 and "nothing changed" in again.stdout
