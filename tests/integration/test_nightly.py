"""End to end through the command line: `iblpipe demo run` (what `make demo` runs) and `iblpipe nightly`."""

from __future__ import annotations

import fcntl
import json
import re
import shutil

import pandas as pd
import pytest

from iblpipe import schemas
from iblpipe.schemas import behavior
from tests.integration.conftest import module_prefix

SMALL = ("--labs", "1", "--mice", "2", "--max-sessions", "8")


@pytest.fixture(scope="module")
def demo_run(db_server, tmp_path_factory, repo_root):
    """`iblpipe demo run` on a small lab under this module's prefix: (prefix, lab folder, completed process)."""
    import subprocess
    import sys

    prefix = module_prefix(__name__) + "demo_"
    out = tmp_path_factory.mktemp("demo_run") / "lab"
    schemas.drop(prefix)
    proc = subprocess.run(
        [sys.executable, "-m", "iblpipe", "--prefix", prefix, "demo", "run", "--out", str(out), *SMALL],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
        cwd=repo_root,
    )
    yield prefix, out, proc
    schemas.drop(prefix)


def test_demo_run_runs_every_stage_and_leaves_nothing_to_do(demo_run, run_cli):
    prefix, out, proc = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "demo finished: every stage ran" in proc.stderr
    assert "skipped" not in proc.stderr
    assert (out / "report" / "index.html").exists()
    status = json.loads(run_cli("--prefix", prefix, "status", "--json").stdout)
    tables = {t["table"]: t for t in status["tables"]}
    assert tables["behavior.TrialSet"]["rows"] == 16 and tables["behavior.LearningCurve"]["rows"] > 0
    for name, t in tables.items():
        assert t["todo"] == 0 and t["errors"] == 0 and t["reserved"] == 0, (name, t)


def _without_last_session(dump: list[dict], nickname: str) -> tuple[list[dict], str]:
    """The dump minus the last session of one mouse (and records pointing at it); the dropped session's pk."""
    subject_pk = next(r["pk"] for r in dump if r["model"] == "subjects.subject" and r["fields"]["nickname"] == nickname)
    sessions = [r for r in dump if r["model"] == "actions.session" and r["fields"]["subject"] == subject_pk]
    last = max(sessions, key=lambda r: r["fields"]["start_time"])["pk"]
    kept = [r for r in dump if r["pk"] != last and last not in json.dumps(r["fields"])]
    return kept, last


def test_nightly_mirrors_populates_and_redraws_only_what_changed(demo_run, run_cli, tmp_path):
    _, lab, _ = demo_run
    prefix = module_prefix(__name__) + "night_"
    schemas.drop(prefix)
    dump = json.loads((lab / "alyx_dump.json").read_text())
    recorded = {r["fields"]["session"] for r in dump if r["model"] == "experiments.probeinsertion"}
    sessions = {r["pk"]: r["fields"]["subject"] for r in dump if r["model"] == "actions.session"}
    plain = next(
        r["fields"]["nickname"]
        for r in dump
        if r["model"] == "subjects.subject" and not {s for s, subj in sessions.items() if subj == r["pk"]} & recorded
    )
    older, new_session = _without_last_session(dump, plain)
    (tmp_path / "older.json").write_text(json.dumps(older))
    shutil.copy(lab / "alyx_dump.json", tmp_path / "newer.json")
    env = {"IBLPIPE_DATA_ROOT": str(lab), "IBLPIPE_HOME": str(tmp_path / "home")}
    report = tmp_path / "report"
    env["IBLPIPE_EXPORT_DIR"] = str(tmp_path / "export")  # the nightly also rewrites changed mice's aggregate files
    try:
        first = run_cli("--prefix", prefix, "nightly", "--source", f"dump:{tmp_path / 'older.json'}", "--out",
                        str(report), "--processes", "2", env=env)  # fmt: skip
        assert first.returncode == 0, first.stderr[-3000:]
        assert re.search(r"drew 2 figures, 0 unchanged", first.stdout)
        assert "started 2 worker processes" in first.stderr
        assert (report / "index.html").exists()
        assert "nightly: exported 2 mice, 0 unchanged" in first.stderr

        again = run_cli("--prefix", prefix, "nightly", "--source", f"dump:{tmp_path / 'older.json'}", "--out",
                        str(report), "--log-keys", env=env)  # fmt: skip
        assert again.returncode == 0, again.stderr[-3000:]
        assert "nothing changed" in again.stdout
        assert "populate done: 0 made" in again.stderr and "drew 0 figures, 2 unchanged" in again.stdout
        assert "nightly: exported 0 mice, 2 unchanged" in again.stderr

        memo_before = _memo_rows(prefix, plain)
        newer = run_cli("--prefix", prefix, "nightly", "--source", f"dump:{tmp_path / 'newer.json'}", "--out",
                        str(report), "--log-keys", env=env)  # fmt: skip
        assert newer.returncode == 0, newer.stderr[-3000:]
        assert re.search(r"^  inserted: (.*, )?session 1(,|$)", newer.stdout, flags=re.M), newer.stdout
        made = re.findall(r"made (\S+) (.*)$", newer.stderr, flags=re.M)
        assert ("behavior.TrialSet", f"session_uuid={new_session}") in made
        assert {t for t, _ in made} >= {"behavior.TrialSet", "behavior.TrainingStatus", "behavior.LearningCurve"}
        assert not any(t.startswith("ephys.") for t, _ in made)
        # the recomputed history fitted only the new window: its verdict, and StatusStability's with K other seeds
        k = behavior.DEFAULT_FIT_PARAMS["stability_seeds"]
        assert _memo_rows(prefix, plain) == memo_before + 1 + k
        assert "drew 1 figures, 1 unchanged" in newer.stdout
        assert re.search(rf"^  drew \S+/{plain}$", newer.stdout, flags=re.M)
        assert "nightly: exported 1 mice, 1 unchanged" in newer.stderr
        (trials_file,) = (tmp_path / "export").glob(f"aggregates/Subjects/*/{plain}/_ibl_subjectTrials.table.pqt")
        assert str(new_session) in set(pd.read_parquet(trials_file)["session"])
    finally:
        schemas.drop(prefix)


def _memo_rows(prefix: str, nickname: str) -> int:
    from iblpipe.schemas import behavior, subject

    schemas.activate(prefix)
    return len(behavior.StatusMemo & (subject.Subject & {"subject_nickname": nickname}))


def test_nightly_needs_a_source_and_runs_once_at_a_time(demo_run, run_cli, tmp_path):
    prefix, _, _ = demo_run
    home = tmp_path / "home"
    missing = run_cli("--prefix", prefix, "nightly", env={"IBLPIPE_HOME": str(home), "IBLPIPE_SOURCE": ""})
    assert missing.returncode == 2 and "no source to ingest" in missing.stderr
    home.mkdir()
    with open(home / "nightly.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        second = run_cli("--prefix", prefix, "nightly", "--skip-ingest", env={"IBLPIPE_HOME": str(home)})
    assert second.returncode == 0 and "another `iblpipe nightly`" in second.stderr
    assert "populate done" not in second.stderr
