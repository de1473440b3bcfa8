"""The benchmark's smoke run: ``python -m benchmarks`` on 3 short-lived mice against the test server.

Keeps the benchmark script working; its numbers are not checked beyond being there and positive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SMOKE_ARGS = ("--mice", "3", "--runs", "1", "--max-sessions", "16")  # 16 sessions: mouse 0 is recorded once
MEASURES = (
    "trials_to_pandas_vs_one",
    "trials_fetch_frame_vs_one",
    "trials_to_pandas_vs_datajoint",
    "trials_to_pandas_vs_raw",
    "trials_joined_vs_plain",
    "trials_aggregate_file",
    "region_vs_one",
    "units_CA1",
    "units_CA",
    "lab_arrow",
    "lab_arrow_memory",
    "mirror_cold",
    "populate_cold",
    "nightly",
    "trials_10x",
    "trials_10x_vs_one",
    "trials_fetch_frame_10x",
    "trials_10x_vs_datajoint",
    "trials_joined_10x",
    "region_10x",
    "lab_arrow_10x",
    "lab_arrow_memory_10x",
    "units_CA1_10x",
    "units_CA_10x",
    "populate_peak_memory",
)
# busy CPU (ours + the server's) beside these calls' wall times: measured where the server runs on this machine
BUSY_MEASURES = (
    "trials_to_pandas_busy",
    "units_CA1_busy",
    "units_CA_busy",
    "trials_10x_busy",
    "units_CA1_10x_busy",
    "units_CA_10x_busy",
)
TIMEOUT_S = 1800  # (s) a hang guard: the smoke run takes 1-2 minutes on 2 idle cores, over 10 under load 9


def test_smoke_benchmark_writes_every_measure(db_server, repo_root, tmp_path):
    out = tmp_path / "results"
    env = dict(os.environ, PYTHONPATH=str(repo_root))
    argv = [sys.executable, "-m", "benchmarks", *SMOKE_ARGS, "--lab", str(tmp_path / "lab"), "--out", str(out)]
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=repo_root, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = out.glob("bench-*.json")
    data = json.loads(path.read_text())
    assert set(data["measures"]) == set(MEASURES) | _busy_measures(db_server)
    for name, measure in data["measures"].items():
        assert measure["ours"] > 0, name
        for field in ("comparison", "ratio"):
            assert measure[field] is None or measure[field] > 0, (name, field)
    assert data["measures"]["region_vs_one"]["comparison"] > 0
    assert data["details"]["queries_1x"]["trials"]["same"]  # the columnar to_pandas equals DataJoint's own
    assert data["details"]["queries_1x"]["trials"]["fetch_frame_same"]  # fetch(format='frame') gives the same frame
    arrow = data["details"]["queries_1x"]["lab_arrow"]
    assert arrow["rows"] == data["details"]["queries_1x"]["counts"]["trials"] and arrow["arrow_mb"] > 0
    assert data["details"]["queries_1x"]["region"]["agree"]  # region counts equal the ALF group-by
    assert data["details"]["nightly"]["new_sessions_populated"] == 3
    assert data["machine"]["cpu_count"] >= 1 and data["machine"]["database_server"]
    assert "measure" in result.stdout and "ours (median)" in result.stdout


QUERY_MEASURES = {m for m in MEASURES if m != "nightly"}


def _busy_measures(db_server) -> set[str]:
    """The busy-CPU rows expected: only when the test server runs on this machine (its CPU time is readable)."""
    return set(BUSY_MEASURES) if db_server["host"] in ("127.0.0.1", "localhost") else set()


def test_smoke_queries_only_populates_what_the_queries_read(db_server, repo_root, tmp_path):
    out = tmp_path / "results"
    env = dict(os.environ, PYTHONPATH=str(repo_root))
    argv = [sys.executable, "-m", "benchmarks", *SMOKE_ARGS, "--queries-only", "--lab", str(tmp_path / "lab")]
    argv += ["--out", str(out)]
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=repo_root, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = out.glob("bench-*-queries.json")
    data = json.loads(path.read_text())
    assert set(data["measures"]) == QUERY_MEASURES | _busy_measures(db_server)
    for name in _busy_measures(db_server):  # CPU in 10 ms ticks, summed over both processes: some, and not all
        assert 0 < data["measures"][name]["ours"] < 10 * data["measures"][name]["comparison"], name
    cold = data["details"]["cold"]
    assert cold["tables"] == "behavior.TrialSet,ephys.Clusters,ephys.UnitQuality,ephys.RegionRollup"
    assert cold["plot_s"] == 0 and cold["sessions_with_trials"] == cold["sessions"] > 0
    assert data["details"]["queries_1x"]["trials"]["same"] and data["details"]["queries_1x"]["region"]["agree"]
    assert data["details"]["nightly"] is None and data["args"]["queries_only"] is True
    q10 = data["details"]["queries_10x"]
    assert q10["counts"]["trials"] == 10 * data["details"]["queries_1x"]["counts"]["trials"]
    assert q10["trials"] == data["details"]["queries_1x"]["trials"]["trials"]  # one mouse: the same rows at 10x
