"""The fault suite's quick run (``make faults-smoke``): one or two of each fault, and what they did to the data.

The full suite (``make faults``) is a benchmark: it measures and never fails. This quick run is a
test: after worker and server SIGKILLs every table equals the clean reference.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from iblpipe import dbserver

TIMEOUT_S = 1800  # (s) the quick suite takes about 4 minutes on 2 idle cores

pytestmark = pytest.mark.skipif(dbserver.find_mariadbd() is None, reason="mariadbd not installed")


def _intact(case: dict) -> None:
    assert case["tables_equal"] == case["tables"], case["tables_differing"]
    assert case["missing_rows"] == case["extra_rows"] == 0
    assert case.get("keys_made_twice", 0) == 0
    assert case.get("jobs_left", {}) in ({}, {"error": 0, "reserved": 0})


def test_quick_fault_suite_leaves_every_table_equal_to_a_clean_run(demo_lab, repo_root, tmp_path):
    out = tmp_path / "results"
    argv = [sys.executable, "-m", "benchmarks.faults", "--quick", "--work", str(tmp_path / "work"), "--out", str(out)]
    result = subprocess.run(
        argv, capture_output=True, text=True, cwd=repo_root, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = out.glob("faults-*-quick.json")
    data = json.loads(path.read_text())
    assert data["reference"]["exit"] == 0 and data["reference"]["tables"] > 40

    kills = data["kills"]
    assert kills["worker_kills"]["kills"] == 2 and kills["worker_kills"]["final_exit"] == 0
    _intact(kills["worker_kills"])
    server = kills["server_kills_populate"]
    assert server["kills"] == 1 and server["restarts_logged"] == 1 and server["worker_exit"] == 0
    assert None not in server["resume_s"]
    _intact(server)
    (startup,) = kills["server_kills_startup"]["rounds"]
    assert startup["exit"] == 0 and startup["resume_s"] is not None and not startup["traceback"]
    _intact(startup)
    ingest = kills["server_kills_ingest"]
    assert ingest["mirror_equal_after_rerun"] == ingest["kills"] == 1

    four = data["concurrency"]["four_workers"]
    assert four["exit"] == 0
    _intact(four)
    _intact(data["concurrency"]["two_ingests"])

    rows = {r["case"]: r for r in data["bad_inputs"]["command_line"]}
    for case in ("populate --tables nope", "ingest dump: truncated JSON", "status, nothing listening on DJ_HOST"):
        assert rows[case]["exit"] == 2 and rows[case]["stderr_lines"] == 1 and not rows[case]["traceback"], case
    files = data["bad_inputs"]["broken_files"]
    assert [r["exit"] for r in files] == [1, 1, 1] and files[0]["failed_keys"] == 3
    assert "fault suite: reference" in result.stdout and "4 workers" in result.stdout
