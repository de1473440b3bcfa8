"""`iblpipe export`: IBL-style per-mouse aggregate files equal the tables, are rewritten only when changed, and
fail cleanly."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
from one.alf.io import load_file_content

from iblpipe import export
from iblpipe.compute import aggregates
from iblpipe.errors import ExportError
from iblpipe.schemas import acquisition, behavior, reference, subject
from iblpipe.sources import ids
from iblpipe.sources.alf import session_path
from tests.behavior_lab import PROTOCOLS, make_trials, write_trials

LAB = "exportlab"
MICE = {"EXP001": 5, "EXP002": 3}  # nickname -> sessions (one per day, trainingChoiceWorld)
OBSERVER = dict(threshold=20, lapse=0.1, bias=5)


@pytest.fixture(scope="module")
def lab(prefix, tmp_path_factory):
    """Two mice written as ALF; trials, histories and training status populated."""
    root = tmp_path_factory.mktemp("alf")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IBLPIPE_DATA_ROOT", str(root))
        reference.Lab.insert1({"lab_name": LAB})
        for m, (nick, n_sessions) in enumerate(MICE.items()):
            sub = ids.subject_uuid(LAB, nick)
            subject.Subject.insert1({"subject_uuid": sub, "subject_nickname": nick})
            subject.SubjectLab.insert1({"subject_uuid": sub, "lab_name": LAB})
            for day in range(n_sessions):
                date = f"2024-06-{day + 3:02d}"
                start = dt.datetime.fromisoformat(date) + dt.timedelta(hours=9, minutes=m)
                acquisition.Session.insert1(
                    {
                        "session_uuid": ids.session_uuid(LAB, nick, date, 1),
                        "subject_uuid": sub,
                        "session_lab": LAB,
                        "session_start_time": start,
                        "task_protocol": PROTOCOLS["training"],
                    }
                )
                trials = make_trials(300 + 10 * m + day, 250 + day, **OBSERVER)
                write_trials(session_path(root, LAB, nick, date, 1), trials)
        behavior.TrialSet.populate()
        behavior.BehaviorHistory.populate()
        behavior.TrainingStatus.populate()
        yield {"root": root, "out": tmp_path_factory.mktemp("export")}


def _files(out, nick):
    folder = export.subject_folder(out, LAB, nick)
    return {
        name: folder / name for name in (aggregates.TRIALS_FILE, aggregates.TRAINING_FILE, aggregates.SESSIONS_FILE)
    }


def test_export_writes_ibl_aggregates_equal_to_the_tables(prefix, lab, run_cli):
    out = lab["out"]
    result = run_cli("--prefix", prefix, "export", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"exported {len(MICE)} mice, 0 unchanged" in result.stdout
    for nick, n_sessions in MICE.items():
        files = _files(out, nick)
        mouse = subject.Subject & {"subject_nickname": nick}
        trials = load_file_content(files[aggregates.TRIALS_FILE])
        assert list(trials.columns) == list(aggregates.TRIALS_COLUMNS)
        table = (behavior.Trials * acquisition.Session * mouse).to_pandas().reset_index()
        table = table.sort_values(["session_start_time", "trial_id"])
        assert len(trials) == len(table) == sum(250 + d for d in range(n_sessions))
        for alf, ours in aggregates.ALF_TRIAL_COLUMNS.items():
            assert np.array_equal(trials[alf].to_numpy(), table[ours].to_numpy(dtype=float), equal_nan=True), alf
        assert trials["session"].tolist() == table["session_uuid"].astype(str).tolist()
        assert (trials["session_start_time"].to_numpy() == table["session_start_time"].to_numpy()).all()
        assert set(trials["task_protocol"]) == {PROTOCOLS["training"]}

        training = load_file_content(files[aggregates.TRAINING_FILE])
        status = (behavior.TrainingStatus & mouse).to_pandas().reset_index().sort_values("session_date")
        assert len(training) == len(status) == n_sessions
        assert training["training_status"].tolist() == status["training_status"].tolist()
        assert [d.date() for d in training["date"]] == status["session_date"].tolist()
        joined = trials.set_index("session").join(training.set_index("session"))  # as IBL's users join them
        assert joined["training_status"].notna().all()

        sessions = load_file_content(files[aggregates.SESSIONS_FILE])
        summary = (behavior.TrialSet * acquisition.Session * mouse).to_pandas().reset_index()
        summary = summary.sort_values("session_start_time")
        assert sessions["id"].tolist() == summary["session_uuid"].astype(str).tolist()
        assert sessions["n_trials"].tolist() == summary["n_trials"].tolist()
        assert sessions["n_correct_trials"].tolist() == summary["n_correct"].tolist()
        assert set(sessions["subject"]) == {nick} and set(sessions["lab"]) == {LAB}


def test_export_rewrites_only_mice_whose_content_changed(prefix, lab, run_cli):
    out = lab["out"]
    run_cli("--prefix", prefix, "export", "--out", str(out))
    before = {nick: {n: p.stat().st_mtime_ns for n, p in _files(out, nick).items()} for nick in MICE}
    again = run_cli("--prefix", prefix, "export", "--out", str(out))
    assert again.returncode == 0 and f"exported 0 mice, {len(MICE)} unchanged" in again.stdout
    changed, same = list(MICE)
    last = ids.session_uuid(LAB, changed, f"2024-06-{MICE[changed] + 2:02d}", 1)
    (behavior.TrialSet & {"session_uuid": last}).delete(prompt=False, part_integrity="cascade")
    behavior.BehaviorHistory.populate()
    behavior.TrainingStatus.populate()
    third = run_cli("--prefix", prefix, "export", "--out", str(out))
    assert third.returncode == 0, third.stderr
    assert f"exported 1 mice, {len(MICE) - 1} unchanged" in third.stdout and f"wrote {LAB}/{changed}" in third.stdout
    assert {n: p.stat().st_mtime_ns for n, p in _files(out, same).items()} == before[same]
    trials = load_file_content(_files(out, changed)[aggregates.TRIALS_FILE])
    assert str(last) not in set(trials["session"]) and len(trials) == sum(250 + d for d in range(MICE[changed] - 1))
    assert not [p for p in export.subject_folder(out, LAB, changed).iterdir() if ".tmp-" in p.name]


def test_unwritable_export_folder_is_one_clear_error(prefix, lab, run_cli, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the export folder should be")
    result = run_cli("--prefix", prefix, "export", "--out", str(blocker))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "cannot create" in line]
    assert len(lines) == 1 and str(blocker) in lines[0] and "Traceback" not in result.stderr


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / aggregates.TRIALS_FILE
    pd.DataFrame({"a": [1.0, 2.0]}).to_parquet(target)
    before = target.read_bytes()

    def full_disk(tmp):
        tmp.write_bytes(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(ExportError, match="No space left on device") as err:
        export._write_atomic(target, full_disk)
    assert str(target) in str(err.value)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [target.name]


@contextlib.contextmanager
def _tmpfs(path, size_kib: int):
    """A tmpfs of ``size_kib`` KiB mounted at ``path`` (a real small disk); the test skips where mounting is refused."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _leftovers(out) -> list[str]:
    return [p.name for p in out.rglob("*") if ".tmp-" in p.name]


FULL_DISK_KIB = 16  # (KiB) room for the folders, not for a mouse's trials file


def test_export_to_a_full_disk_is_one_error_and_no_half_written_file(prefix, lab, run_cli, tmp_path):
    with _tmpfs(tmp_path / "full", FULL_DISK_KIB) as out:
        result = run_cli("--prefix", prefix, "export", "--out", str(out))
        assert result.returncode == 2
        lines = [line for line in result.stderr.splitlines() if "No space left on device" in line]
        assert len(lines) == 1 and str(out) in lines[0] and "Traceback" not in result.stderr
        assert not _leftovers(out)
        assert not list(out.rglob(aggregates.TRIALS_FILE))  # none renamed into place half-written


def test_export_to_a_read_only_folder_is_one_error_and_keeps_the_files(prefix, lab, run_cli, tmp_path):
    with _tmpfs(tmp_path / "ro", 4096) as out:
        assert run_cli("--prefix", prefix, "export", "--out", str(out)).returncode == 0
        files = sorted(p for p in out.rglob("*.pqt"))
        before = {p: p.read_bytes() for p in files}
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        result = run_cli("--prefix", prefix, "export", "--out", str(out), "--force")
        assert result.returncode == 2
        lines = [line for line in result.stderr.splitlines() if "Read-only file system" in line]
        assert len(lines) == 1 and str(out) in lines[0] and "Traceback" not in result.stderr
        assert {p: p.read_bytes() for p in sorted(out.rglob("*.pqt"))} == before and not _leftovers(out)
