"""The benchmark's long stages, each in a subprocess: the cold run, the nightly run, the 10x inflation."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from benchmarks import common, lab, scale


def iblpipe(*args: str, env: dict | None = None) -> common.Run:
    """Run ``python -m iblpipe ARGS``; its output goes to ``$IBLPIPE_HOME/logs/<command>.log`` too.

    A subprocess on purpose: a stage's wall time and peak memory are those of a cold ``iblpipe`` process,
    as a user runs it. The CLI is the operations layer's front end, so this measures the same functions.
    """
    run = common.run_python(["-m", "iblpipe", *args], env=env)
    logs = Path(os.environ["IBLPIPE_HOME"]) / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{args[0]}.log").write_text(f"$ iblpipe {' '.join(args)}\n{run.stdout}\n{run.stderr}")
    return run


def counts() -> dict:
    """Rows of the tables the measures read."""
    from iblpipe.schemas import acquisition, behavior, ephys, subject

    return {
        "subjects": len(subject.Subject()),
        "sessions": len(acquisition.Session()),
        "sessions_with_trials": len(behavior.TrialSet()),
        "trials": len(behavior.Trials()),
        "insertions": len(ephys.ProbeInsertion()),
        "units": len(ephys.Clusters.Cluster()),
        "region_rows": len(ephys.RegionUnits()),
    }


def _populate_errors() -> int:
    from iblpipe.populate import auto_tables

    return sum(len(t.jobs.errors) for t in auto_tables())


def cold_run(lab_dir: Path, report_dir: Path, processes: int, tables: str = "all", resumed: bool = False) -> dict:
    """Mirror, populate ``tables`` and (for all tables) draw every figure on an empty database: one subprocess each.

    ``resumed``: the database holds what an interrupted cold run made; the times are then not a cold run's.
    """
    ingest = iblpipe("ingest", "--source", f"dump:{lab_dir / 'alyx_dump.json'}").check()
    populate = iblpipe("populate", "--tables", tables, "--processes", str(processes), "--no-progress")
    if populate.returncode not in (0, 1):  # 1: some keys failed, counted below
        populate.check()
    plot_s = 0.0
    if tables == "all":
        plot_s = iblpipe("plot", "--out", str(report_dir), "--processes", str(processes)).check().seconds
    return {
        "ingest_s": ingest.seconds,
        "populate_s": populate.seconds,
        "plot_s": plot_s,
        "total_s": ingest.seconds + populate.seconds + plot_s,
        "processes": processes,
        "tables": tables,
        "resumed": resumed,
        "populate_exit": populate.returncode,
        "populate_errors": _populate_errors(),
        "populate_maxrss_mb": populate.maxrss_mb,
        "ingest_maxrss_mb": ingest.maxrss_mb,
        **counts(),
    }


def nightly_run(lab_dir: Path, night_dir: Path, report_dir: Path, processes: int) -> dict:
    """One new session per mouse in a copy of the lab, then ``iblpipe nightly`` on it."""
    start = time.perf_counter()
    lab.copy_lab(lab_dir, night_dir)
    copy_s = time.perf_counter() - start
    added = lab.add_night(night_dir)
    before = counts()
    env = {"IBLPIPE_DATA_ROOT": str(night_dir)}
    source = f"dump:{night_dir / 'alyx_dump.json'}"
    run = iblpipe("nightly", "--source", source, "--out", str(report_dir), "--processes", str(processes), env=env)
    if run.returncode not in (0, 1):
        run.check()
    after = counts()
    from iblpipe.schemas import behavior

    made = len(behavior.TrialSet & [{"session_uuid": e} for e in added["eids"]])
    return {
        "nightly_s": run.seconds,
        "nightly_exit": run.returncode,
        "nightly_maxrss_mb": run.maxrss_mb,
        "processes": processes,
        "populate_errors": _populate_errors(),
        "copy_s": copy_s,
        "write_s": added["write_s"],
        "new_sessions": added["sessions"],
        "new_trials": added["trials"],
        "new_sessions_populated": made,
        "trials_before": before["trials"],
        "trials_after": after["trials"],
        "stages": _stage_times(run.stderr),
    }


def _stage_times(log: str) -> dict:
    """Seconds between the nightly's stage log lines (ingest, populate, figures)."""
    marks = []
    for line in log.splitlines():
        for stage in ("nightly: ingest", "nightly: populate", "nightly: figures", "nightly done"):
            if stage in line:
                stamp = dt.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
                marks.append((stage.removeprefix("nightly: ").removeprefix("nightly "), stamp))
    return {a: (tb - ta).total_seconds() for (a, ta), (_, tb) in zip(marks, marks[1:], strict=False)}


def inflate(prefix: str, factor: int) -> dict:
    """The queries' tables copied to ``factor`` x (``benchmarks.scale``), with the rows and seconds of each."""
    start = time.perf_counter()
    tables = scale.inflate(prefix, factor)
    return {"factor": factor, "seconds": time.perf_counter() - start, "tables": tables}
