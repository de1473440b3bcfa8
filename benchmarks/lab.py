"""The benchmark's demo lab: generate or reuse it, describe it, and add a night of new sessions to a copy.

A night adds ONE new session to every mouse of a private copy of the lab (ALF trials folder,
raw task settings, Alyx dump records: session, water, weighing; ONE cache rows), as the rig
would write them. The copy hard-links the original ALF files (same filesystem, seconds, no
space) and writes the dump and cache tables anew, so the original lab is never modified.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import run_python
from iblpipe.demo.build import GENERATOR_VERSION

TOP_LEVEL = ("alyx_dump.json", "sessions.pqt", "datasets.pqt", "ground_truth.json")  # rewritten in a copy
GENERATION_RECORD = "bench-generate.json"  # written next to the lab: how long generation took
NIGHT_SEED = 3  # (stream id) random stream of the added sessions, apart from the generator's 1 and 2


def ensure_lab(path: Path, mice: int, workers: int, max_sessions: int | None = None) -> dict:
    """The demo lab at ``path`` with ``mice`` mice: reused when it is there, generated otherwise.

    Generation runs ``iblpipe demo generate`` in a subprocess; its wall time is recorded in
    ``path/bench-generate.json`` so a later run that reuses the lab still reports it.
    """
    truth_file = path / "ground_truth.json"
    if truth_file.exists():
        truth = json.loads(truth_file.read_text())
        if truth["mice"] != mice or truth.get("max_sessions") != max_sessions:
            raise SystemExit(
                f"--lab {path} holds a lab of {truth['mice']} mice (max_sessions {truth.get('max_sessions')}), "
                f"not {mice} ({max_sessions}): pass another --lab"
            )
        if truth.get("generator_version") != GENERATOR_VERSION:
            raise SystemExit(
                f"--lab {path} was made by demo generator v{truth.get('generator_version', '1-2')}, not "
                f"v{GENERATOR_VERSION} (today's layouts): delete it or pass another --lab"
            )
        record = path / GENERATION_RECORD
        generated = json.loads(record.read_text()) if record.exists() else {}
        return {"path": str(path), "reused": True, **generated, **describe(path)}
    # A subprocess on purpose (not operations.generate_lab): the record keeps the generation's own wall time
    # and peak memory. The CLI is the operations layer's front end.
    argv = ["-m", "iblpipe", "demo", "generate", "--out", str(path), "--mice", str(mice), "--workers", str(workers)]
    if max_sessions is not None:
        argv += ["--max-sessions", str(max_sessions)]
    run = run_python(argv).check()
    generated = {"generate_s": round(run.seconds, 1), "generate_workers": workers, "generate_maxrss_mb": run.maxrss_mb}
    (path / GENERATION_RECORD).write_text(json.dumps(generated, indent=1) + "\n")
    return {"path": str(path), "reused": False, **generated, **describe(path)}


def describe(path: Path) -> dict:
    """Size on disk, mice, sessions, trials and probe insertions of a generated lab."""
    truth = json.loads((path / "ground_truth.json").read_text())
    dates = [d for s in truth["subjects"] for d in s["dates"]]
    du = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True)
    size = int(du.stdout.split()[0]) if du.returncode == 0 else None
    return {
        "generator_version": truth.get("generator_version"),
        "labs": truth["labs"],
        "mice": truth["mice"],
        "sessions": sum(d["n_sessions"] for d in dates),
        "trials": sum(d["n_trials"] for d in dates),
        "probe_folders": sum(1 for _ in path.glob("*/Subjects/*/*/*/alf/probe*")),
        "size_gb": None if size is None else round(size / 1e9, 2),
    }


def copy_lab(src: Path, dst: Path) -> None:
    """``dst``: the lab ``src`` with every ALF file hard-linked, the top-level tables copied."""
    if dst.exists():
        shutil.rmtree(dst)
    ignore = shutil.ignore_patterns(*TOP_LEVEL, "report", GENERATION_RECORD)
    shutil.copytree(src, dst, copy_function=os.link, ignore=lambda d, names: ignore(d, names) if d == str(src) else [])
    for name in TOP_LEVEL:
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)


def _next_weekday(day: dt.date, n: int) -> dt.date:
    """The ``n``-th weekday after ``day``."""
    while n:
        day += dt.timedelta(days=1)
        n -= day.weekday() < 5
    return day


def add_night(lab: Path, night: int = 1) -> dict:
    """Append one session per mouse to the lab copy ``lab``, ``night`` weekdays after its last date.

    Each mouse repeats its last session's protocol and rig with trials drawn by the demo's learner
    (``iblpipe.demo.learner.simulate_trials``) at its current training day. Culled mice get one
    too: the nightly load is then exactly one session per mouse. Never call this on the original
    lab: its ALF files are hard links (only new files are written, the top-level tables are
    replaced, not edited in place). Returns counts and the added session ids.
    """
    from iblpipe.demo.build import write_cache
    from iblpipe.demo.lab import mouse_specs
    from iblpipe.demo.learner import simulate_trials
    from iblpipe.demo.mouse import PROTOCOL_NAMES, WATER_TYPE_SESSION
    from iblpipe.demo.rig import write_trials
    from iblpipe.sources.alf import session_path
    from iblpipe.sources.ids import name_uuid, session_uuid

    start = time.perf_counter()
    truth = json.loads((lab / "ground_truth.json").read_text())
    specs = {s.nickname: s for s in mouse_specs(truth["labs"], truth["mice"], truth["seed"])}
    records = json.loads((lab / "alyx_dump.json").read_text())
    last_session, last_weight = {}, {}
    for record in records:
        fields = record["fields"]
        subject = fields.get("subject")
        if record["model"] == "actions.session":
            if subject not in last_session or fields["start_time"] > last_session[subject]["start_time"]:
                last_session[subject] = fields
        elif record["model"] == "actions.weighing":
            if subject not in last_weight or fields["date_time"] > last_weight[subject][0]:
                last_weight[subject] = (fields["date_time"], fields["weight"])
    protocol_kind = {name: kind for kind, name in PROTOCOL_NAMES.items()}
    added, new_sessions, new_datasets, n_trials = [], [], [], 0
    for mouse in truth["subjects"]:
        spec = specs[mouse["nickname"]]
        template = last_session[mouse["subject_uuid"]]
        kind = protocol_kind.get(template["task_protocol"], "biased")
        training_day = sum(d["protocol"] != "habituation" for d in mouse["dates"])
        day = _next_weekday(dt.date.fromisoformat(mouse["dates"][-1]["date"]), night)
        rng = np.random.default_rng([truth["seed"], NIGHT_SEED, spec.index, night])
        trials = simulate_trials(rng, spec.params, kind, training_day)
        date, eid = day.isoformat(), str(session_uuid(spec.lab, spec.nickname, day.isoformat(), 1))
        folder = session_path(lab, spec.lab, spec.nickname, date, 1)
        files = write_trials(folder / "alf", trials, "table")
        begin = dt.datetime.combine(day, dt.time(9, 0))
        end = begin + dt.timedelta(seconds=round(float(trials["intervals"][-1, 1])))
        settings_file = folder / "raw_behavior_data" / "_iblrig_taskSettings.raw.json"
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(
            json.dumps(
                {
                    "PYBPOD_PROTOCOL": template["task_protocol"],
                    "PYBPOD_BOARD": template["location"],
                    "SUBJECT_NAME": spec.nickname,
                    "SESSION_DATETIME": begin.isoformat(),
                    "SESSION_START_DELAY_SEC": 0,
                },
                indent=1,
            )
        )
        files.append(settings_file)
        water = round(float(np.sum(trials["rewardVolume"])) / 1000.0, 4)
        fields = {
            **template,
            "start_time": begin.isoformat(),
            "end_time": end.isoformat(),
            "number": 1,
            "procedures": ["Behavior training/tasks"],
            "n_trials": int(trials["choice"].size),
            "n_correct_trials": int(np.sum(trials["feedbackType"] == 1)),
            "json": {"SESSION_START_DELAY_SEC": 0, "RIG_NAME": template["location"]},
        }
        user = template["users"][0] if template["users"] else None
        records += [
            {"model": "actions.session", "pk": eid, "fields": fields},
            {
                "model": "actions.wateradministration",
                "pk": str(name_uuid("water", eid)),
                "fields": {
                    "subject": mouse["subject_uuid"],
                    "date_time": end.isoformat(),
                    "water_administered": water,
                    "water_type": WATER_TYPE_SESSION,
                    "adlib": False,
                    "session": eid,
                    "user": user,
                },
            },
            {
                "model": "actions.weighing",
                "pk": str(name_uuid("weighing", mouse["subject_uuid"], date)),
                "fields": {
                    "subject": mouse["subject_uuid"],
                    "date_time": f"{date}T08:55:00",
                    "weight": last_weight[mouse["subject_uuid"]][1],  # as on its last weighing
                    "user": user,
                },
            },
        ]
        new_sessions.append(
            {
                "id": eid,
                "lab": spec.lab,
                "subject": spec.nickname,
                "date": day,
                "number": 1,
                "task_protocol": template["task_protocol"],
                "projects": "iblpipe_demo",
            }
        )
        new_datasets += [
            {"eid": eid, "rel_path": f.relative_to(folder).as_posix(), "file_size": f.stat().st_size} for f in files
        ]
        added.append(eid)
        n_trials += int(trials["choice"].size)
    _replace(lab / "alyx_dump.json", lambda p: _write_dump(p, records))
    sessions = pd.read_parquet(lab / "sessions.pqt").reset_index()
    datasets = pd.read_parquet(lab / "datasets.pqt").reset_index()[["eid", "rel_path", "file_size"]]
    sessions["date"] = pd.to_datetime(sessions["date"]).dt.date
    for name in ("sessions.pqt", "datasets.pqt"):
        (lab / name).unlink()
    write_cache(lab, sessions.to_dict("records") + new_sessions, datasets.to_dict("records") + new_datasets)
    return {"sessions": len(added), "trials": n_trials, "eids": added, "write_s": time.perf_counter() - start}


def _replace(path: Path, write) -> None:
    """Write ``path`` anew (unlink first: it may be a hard link shared with the original lab)."""
    path.unlink(missing_ok=True)
    write(path)


def _write_dump(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(r, separators=(",", ":")) for r in records))
        f.write("\n]\n")
