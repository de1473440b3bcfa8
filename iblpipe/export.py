"""``export``: IBL-style per-subject aggregate files under ``<out>/aggregates/Subjects/<lab>/<subject>/``.

Per subject, three queries (columnar ``to_pandas``) give its trials, sessions and training
status; :mod:`iblpipe.compute.aggregates` shapes them as IBL's files. A subject's files are
rewritten only when the fingerprint of their content differs from the one recorded in
``<out>/aggregates/_iblpipe_export.json`` (or a file is missing), so a nightly run rewrites
the subjects whose inputs changed. Each file is written to a temporary name in its folder,
then renamed over the old one: a reader never sees a half-written file, and a failure
(no permission, no space) leaves the previous file and raises ExportError naming the path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from iblpipe.compute import aggregates
from iblpipe.errors import ExportError

logger = logging.getLogger(__name__)

AGGREGATES_DIR = Path("aggregates") / "Subjects"  # under the export root, as IBL's aggregates
MANIFEST = "_iblpipe_export.json"  # in <out>/aggregates: subject uuid -> lab, nickname, fingerprint


@dataclass
class ExportResult:
    """What one export run did."""

    written: list[str] = field(default_factory=list)  # lab/subject folders rewritten
    unchanged: list[str] = field(default_factory=list)  # lab/subject folders whose content was the same
    skipped: list[str] = field(default_factory=list)  # subjects without sessions or lab


def subject_folder(out: Path, lab: str, nickname: str) -> Path:
    """``<out>/aggregates/Subjects/<lab>/<subject>``."""
    return Path(out) / AGGREGATES_DIR / lab / nickname


def subject_frames(subject_uuid, lab: str, nickname: str) -> dict[str, pd.DataFrame]:
    """The three aggregate tables of one subject, keyed by file name (read from the activated schemas)."""
    from iblpipe.schemas import acquisition, behavior

    key = {"subject_uuid": subject_uuid}
    session_attrs = ("session_start_time", "session_number", "task_protocol")
    sessions = (
        (acquisition.Session & key)
        .aggr(
            behavior.TrialSet,
            *session_attrs,
            n_trials="IFNULL(MAX(n_trials), 0)",
            n_correct="IFNULL(MAX(n_correct), 0)",
        )
        .to_pandas()
        .reset_index()
    )
    mine = (acquisition.Session & key).proj("session_start_time", "task_protocol")
    trials = (behavior.Trials * mine).to_pandas()  # (a dict with attributes a query lacks restricts nothing)
    status = (behavior.TrainingStatus & key & {"params_name": behavior.DEFAULT_PARAMS_NAME}).to_pandas()
    empty_status = pd.DataFrame({"session_date": [], "training_status": []})
    return {
        aggregates.TRIALS_FILE: aggregates.subject_trials(trials.reset_index()),
        aggregates.TRAINING_FILE: aggregates.subject_training(
            status.reset_index() if len(status) else empty_status, sessions
        ),
        aggregates.SESSIONS_FILE: aggregates.subject_sessions(sessions, lab=lab, subject=nickname),
    }


def _subjects(nicknames: list[str] | None) -> pd.DataFrame:
    """subject_uuid, subject_nickname, lab_name (None without SubjectLab) of subjects with at least one session."""
    from iblpipe.schemas import acquisition, subject

    query = (subject.Subject & acquisition.Session).proj("subject_nickname")
    if nicknames:
        query = query & [{"subject_nickname": n} for n in nicknames]
    frame = query.to_pandas()
    if not len(frame):
        return pd.DataFrame({"subject_uuid": [], "subject_nickname": [], "lab_name": []})
    labs = subject.SubjectLab.to_pandas()["lab_name"] if len(subject.SubjectLab()) else pd.Series(dtype=object)
    frame = frame.reset_index()
    frame["lab_name"] = [labs.get(u) for u in frame["subject_uuid"]]
    return frame.sort_values(["subject_nickname"], kind="stable")


def _write_atomic(path: Path, write) -> None:
    """``write(tmp_path)`` then rename over ``path``; the temporary file is removed on any failure."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise ExportError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: Path) -> None:
    """Delete a temporary file if there is one (a read-only folder refuses even that: EROFS, not ENOENT)."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def _makedirs(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(f"cannot create {folder}: {err.strerror or err}") from None


def _read_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        logger.warning("ignoring unreadable %s (%s): every subject is compared afresh", path, err)
        return {}


def _save_manifest(path: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=1, sort_keys=True)
    _write_atomic(path, lambda tmp: tmp.write_text(text))


def export(out: Path, *, subjects: list[str] | None = None, force: bool = False) -> ExportResult:
    """Write the aggregate files of every subject (or the given nicknames) whose content changed.

    ``force`` rewrites them all. Raises ExportError (path and reason) when a folder or file
    cannot be written; files already renamed into place stay complete.
    """
    root = Path(out) / AGGREGATES_DIR.parent
    _makedirs(root)
    manifest_path = root / MANIFEST
    manifest = _read_manifest(manifest_path)
    result = ExportResult()
    chosen = _subjects(subjects)
    result.skipped = chosen.loc[chosen["lab_name"].isna(), "subject_nickname"].tolist()
    try:
        for row in chosen.dropna(subset=["lab_name"]).itertuples(index=False):
            uid, lab, nick = str(row.subject_uuid), row.lab_name, row.subject_nickname
            frames = subject_frames(row.subject_uuid, lab, nick)
            folder = subject_folder(out, lab, nick)
            label = f"{lab}/{nick}"
            stamp = aggregates.fingerprint(frames)
            recorded = manifest.get(uid, {})
            present = all((folder / name).exists() for name in frames)
            if not force and present and recorded.get("fingerprint") == stamp and recorded.get("folder") == label:
                result.unchanged.append(label)
                continue
            _makedirs(folder)
            for name, frame in frames.items():
                _write_atomic(folder / name, lambda tmp, frame=frame: frame.to_parquet(tmp, index=False))
            manifest[uid] = {"folder": label, "fingerprint": stamp}
            result.written.append(label)
            logger.info("exported %s (%d trials)", label, len(frames[aggregates.TRIALS_FILE]))
    except BaseException:
        if result.written:  # keep what was written (best effort: the first error is the one raised)
            try:
                _save_manifest(manifest_path, manifest)
            except ExportError:
                pass
        raise
    if result.written:
        _save_manifest(manifest_path, manifest)
    return result
