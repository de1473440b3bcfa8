"""Every bad input the project knows, one row each: exit code, the line a user reads, and what else happened.

Command-line and configuration mistakes are run as a user would type them. Broken ALF files are
made in a copy of the lab (files replaced, never edited through a hard link), three sessions broken
three ways, and one populate of ``behavior.TrialSet`` shows whether the other sessions completed and
whether the broken ones left any row. Bad Alyx records are ingested over a mirrored lab and the
mirror's checksums say whether anything else moved.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from benchmarks.faults.harness import Lab, checksums, compare, drop_prefix, first_line, iblpipe
from benchmarks.faults.kills import ingest

TRIALS_GLOB = "_ibl_trials.*"


def _row(case: str, run, **more) -> dict:
    text = run.stderr
    return {
        "case": case,
        "exit": run.returncode,
        "message": first_line(text),
        "stderr_lines": len([line for line in text.splitlines() if line.strip()]),
        "traceback": "Traceback" in text,
        **more,
    }


def command_line(lab: Lab, work: Path) -> list[dict]:
    """Mistakes in options, sources and configuration."""
    prefix = "fb_cli_"
    drop_prefix(lab, prefix)
    assert ingest(lab, prefix).returncode == 0
    bad_json = work / "bad_dump.json"
    bad_json.write_text('[{"model": "misc.lab", "pk": "x", "fields": ')
    from iblpipe import dbserver

    closed = dbserver.free_port()
    no_root = {k: v for k, v in lab.env().items() if k != "IBLPIPE_DATA_ROOT"}
    cases = [
        ("populate --tables nope", ("populate", "--tables", "nope"), None),
        ("populate --restrict mouse=x", ("populate", "--restrict", "mouse=x"), None),
        ("populate --restrict injection", ("populate", "--restrict", "session=abc' OR '1'='1"), None),
        ("populate --restrict subject=NOPE (no key)", ("populate", "--restrict", "subject=NOPE"), None),
        ("populate --processes 0", ("populate", "--processes", "0"), None),
        ("populate without IBLPIPE_DATA_ROOT", ("populate", "--tables", "behavior"), no_root),
        ("ingest dump: missing file", ("ingest", "--source", f"dump:{work / 'nope.json'}"), None),
        ("ingest dump: truncated JSON", ("ingest", "--source", f"dump:{bad_json}"), None),
        ("ingest unknown source kind", ("ingest", "--source", "ftp:somewhere"), None),
        ("status, nothing listening on DJ_HOST", ("status",), lab.env(DJ_HOST=f"127.0.0.1:{closed}", DJ_USER="x")),
        ("status, DJ_PORT=abc", ("status",), lab.env(DJ_HOST="127.0.0.1", DJ_PORT="abc")),
    ]
    rows = [_row(name, iblpipe(lab, prefix, *args, env=env, timeout=600)) for name, args, env in cases]
    drop_prefix(lab, prefix)
    return rows


def _replace(path: Path, write) -> None:
    """Write a new file at ``path`` (unlinked first: the lab copy hard-links the original files)."""
    path.unlink()
    write(path)


def broken_files(lab: Lab, work: Path) -> list[dict]:
    """Three sessions with a truncated .npy, strings in a numeric attribute, a missing attribute file."""
    from benchmarks.lab import copy_lab

    copy = work / "lab_broken"
    copy_lab(lab.lab, copy)
    folders = sorted(p.parent for p in copy.glob(f"*/Subjects/*/*/*/alf/{TRIALS_GLOB.replace('*', 'choice')}.npy"))
    chosen = folders[len(folders) // 4], folders[len(folders) // 2], folders[3 * len(folders) // 4]
    for folder in chosen:  # the attribute files must be read: no table file beside them
        for table in folder.glob("_ibl_trials.table.pqt"):
            table.unlink()
    truncated, strings, missing = chosen
    raw = (truncated / "_ibl_trials.choice.npy").read_bytes()
    _replace(truncated / "_ibl_trials.choice.npy", lambda p: p.write_bytes(raw[: len(raw) // 2]))
    choice = np.load(strings / "_ibl_trials.choice.npy")
    _replace(strings / "_ibl_trials.choice.npy", lambda p: np.save(p, np.where(choice > 0, "left", "right")))
    (missing / "_ibl_trials.feedbackType.npy").unlink()

    prefix = "fb_files_"
    drop_prefix(lab, prefix)
    assert ingest(lab, prefix).returncode == 0
    env = lab.env(IBLPIPE_DATA_ROOT=copy)
    run = iblpipe(lab, prefix, "populate", "--tables", "behavior.TrialSet", "--no-progress", env=env)
    errors = json.loads(iblpipe(lab, prefix, "errors", "--json", env=env).stdout or "[]")
    counts = checksums(lab, prefix)
    sessions = counts["acquisition.session"][0]
    with_trials = counts["behavior._trial_set"][0]
    cases = (
        ("truncated .npy", truncated, "choice"),
        ("strings in a numeric attribute", strings, "choice"),
        ("missing attribute file", missing, "feedbackType"),
    )
    sessions_of = {name: "/".join(folder.parts[-4:-1]) for name, folder, _ in cases}  # <subject>/<date>/<number>
    unmatched = [e["message"] for e in errors if not any(s in e["message"] for s in sessions_of.values())]
    rows = []
    for name, _folder, attribute in cases:
        session = sessions_of[name]
        mine = [e["message"] for e in errors if session in e["message"]]
        message = mine[0] if mine else (unmatched.pop(0) if unmatched else "")
        rows.append(
            {
                "case": f"ALF: {name}",
                "exit": run.returncode,
                "message": " ".join(message.split())[:300],
                "names_session": bool(mine),
                "names_attribute": attribute in message,
                "stderr_lines": None,
                "traceback": "Traceback" in run.stderr,
                "session": session,
            }
        )
    for row in rows:
        row["other_sessions_complete"] = f"{with_trials} of {sessions} sessions imported"
        row["failed_keys"] = len(errors)
    drop_prefix(lab, prefix)
    shutil.rmtree(copy)
    return rows


def bad_records(lab: Lab, work: Path) -> list[dict]:
    """Records that went bad in Alyx, ingested over a mirrored lab: what else moved in the mirror."""
    prefix = "fb_records_"
    rows = []
    for name, change in (
        ("session start_time unparsable", _bad_date),
        ("session of an unknown subject", _unknown_subject),
        ("weighing of NaN grams", _nan_weight),
        ("lab address of 10 MB", _huge_address),
        ("two records with one uuid", _duplicate_uuid),
        ("session in the year 2099", _future_date),
    ):
        drop_prefix(lab, prefix)
        assert ingest(lab, prefix).returncode == 0
        before = checksums(lab, prefix, manual_only=True)
        records = json.loads(lab.dump().read_text())
        target = change(records)
        dump = work / "bad_records.json"
        dump.write_text(json.dumps(records))
        run = iblpipe(lab, prefix, "ingest", "--source", f"dump:{dump}", timeout=600)
        moved = compare(before, checksums(lab, prefix, manual_only=True))
        rows.append(
            _row(
                f"Alyx: {name}",
                run,
                record=target,
                rows_deleted=moved["missing_rows"],
                tables_changed=moved["tables_differing"],
            )
        )
    drop_prefix(lab, prefix)
    return rows


def _first(records: list, model: str, where=lambda r: True) -> dict:
    return next(r for r in records if r["model"] == model and where(r))


def _bad_date(records: list) -> str:
    session = _first(records, "actions.session")
    session["fields"]["start_time"] = "2024-13-01T10:00:00"
    return session["pk"]


def _unknown_subject(records: list) -> str:
    session = _first(records, "actions.session")
    session["fields"]["subject"] = "00000000-0000-0000-0000-000000000000"
    return session["pk"]


def _nan_weight(records: list) -> str:
    weighing = _first(records, "actions.weighing")
    weighing["fields"]["weight"] = float("nan")
    return weighing["pk"]


def _huge_address(records: list) -> str:
    lab_record = _first(records, "misc.lab")
    lab_record["fields"]["address"] = "x" * 10_000_000
    return str(lab_record["pk"])


def _duplicate_uuid(records: list) -> str:
    weighing = _first(records, "actions.weighing")
    twin = json.loads(json.dumps(weighing))
    twin["fields"]["weight"] = weighing["fields"]["weight"] + 1.0
    records.append(twin)
    return weighing["pk"]


def _future_date(records: list) -> str:
    session = _first(records, "actions.session")
    session["fields"]["start_time"] = "2099-01-01T10:00:00"
    return session["pk"]
