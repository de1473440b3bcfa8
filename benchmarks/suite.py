"""The whole benchmark: ``python -m benchmarks`` (``make bench``); see ``benchmarks/__init__.py``.

Stages, in order (each one's results are kept in ``<work>/state.json``, so ``--keep DIR`` resumes
an interrupted run at the first stage not done; an interrupted cold stage carries on with the
rows already made, and its times are then marked ``resumed``):

1. ``cold``: ``iblpipe ingest`` of the lab's Alyx dump, ``iblpipe populate --tables all``,
   ``iblpipe plot``, each timed in a subprocess on an empty database;
2. ``nightly``: one new session per mouse added to a hard-linked copy of the lab, then
   ``iblpipe nightly --source dump:<copy>/alyx_dump.json`` (ingest, populate, plot);
3. ``queries_1x``: one mouse's trials six ways, one region's units three ways, every trial of
   the lab into one Arrow table (``benchmarks.queries``);
4. ``inflate``: the queries' tables copied to 10x (``benchmarks.scale``);
5. ``queries_10x``: the database-side queries again.

``--queries-only`` measures the queries at a size where a full cold populate takes hours
(IBL scale on two cores): the cold stage mirrors and populates only ``QUERY_TABLES``
(trials and the unit tables; no fits, statuses or figures), then ``queries_1x``, ``inflate``
and ``queries_10x`` run; no nightly. The table is built by ``benchmarks.measures``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks import common, lab
from benchmarks.measures import format_table, measures
from benchmarks.queries import queries, queries_scaled
from benchmarks.stages import cold_run, inflate, nightly_run

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_MICE = 200  # (mice) IBL scale: ~13,000 sessions, ~9 million trials
DEFAULT_RUNS = 5  # (count) timed repetitions after the warm-up
SCALE = 10  # (factor) database size of the scaling measure
QUERY_TABLES = "behavior.TrialSet,ephys.Clusters,ephys.UnitQuality,ephys.RegionRollup"  # what the queries read


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Benchmark iblpipe on the demo lab at IBL scale: generate (or reuse) the lab, mirror and populate it "
            "on a private MariaDB, and print one table of our medians next to ONE, the raw driver, the cold run "
            "and a 10x database. Uses $DJ_HOST when set, else starts a private embedded MariaDB."
        ),
    )
    p.add_argument("--mice", type=int, default=DEFAULT_MICE, help=f"mice in the demo lab (default {DEFAULT_MICE})")
    p.add_argument(
        "--lab",
        type=Path,
        help="demo lab folder, reused when it holds --mice mice (default: $IBLPIPE_HOME/bench/lab-MICE)",
    )
    p.add_argument("--runs", type=int, default=DEFAULT_RUNS, help=f"timed runs per query (default {DEFAULT_RUNS})")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder of the JSON result (default benchmarks/results)")
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="populate workers (default: cpus)")
    p.add_argument("--max-sessions", type=int, help="cap sessions per mouse when generating (default: whole lives)")
    p.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep the database, lab copy and stage results in DIR; a rerun with the same DIR resumes",
    )
    p.add_argument(
        "--scale", type=int, default=SCALE, help=f"size factor of the scaling measure; 1 skips it (default {SCALE})"
    )
    p.add_argument(
        "--queries-only",
        action="store_true",
        help="populate only what the queries read (trials, units), then the queries at 1x and --scale: no nightly",
    )
    args = p.parse_args(argv)
    if args.mice < 1 or args.runs < 1 or args.processes < 1 or args.scale < 1:
        p.error("--mice, --runs, --processes and --scale must be >= 1")
    return args


class State:
    """Results of finished stages, saved after each one (``state.json`` in the work folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {}

    def run(self, name: str, func) -> dict:
        if name in self.data:
            print(f"[bench] {name}: done in an earlier run, results reused", flush=True)
            return self.data[name]
        print(f"[bench] {name} ...", flush=True)
        start = time.perf_counter()
        self.save(started=[*self.data.get("started", []), name])
        result = func()
        print(f"[bench] {name}: {time.perf_counter() - start:.0f} s", flush=True)
        self.save(**{name: result})
        return result

    def save(self, **entries) -> None:
        self.data.update(entries)
        self.path.write_text(json.dumps(self.data, indent=1, default=str) + "\n")

    def interrupted(self, name: str) -> bool:
        """Whether stage ``name`` started in an earlier run and did not finish."""
        return name in self.data.get("started", []) and name not in self.data


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        work = args.keep.resolve()
        cleanup = None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="iblpipe-bench-")
        work = Path(cleanup.name)
    try:
        return _run(args, work, started)
    finally:
        if cleanup is not None:
            cleanup.cleanup()


def _run(args: argparse.Namespace, work: Path, started: dt.datetime) -> int:
    logging.getLogger("one").setLevel(logging.ERROR)  # ONE logs a line per file it does not find in its cache
    from iblpipe import settings

    cap = f"-max{args.max_sessions}" if args.max_sessions else ""
    lab_dir = (args.lab or settings.home() / "bench" / f"lab-{args.mice}{cap}").resolve()
    load_start = [round(x, 2) for x in os.getloadavg()]  # other users of the machine show up here
    print(f"[bench] lab {lab_dir} ...", flush=True)
    lab_info = lab.ensure_lab(lab_dir, args.mice, args.processes, args.max_sessions)
    print(f"[bench] lab: {json.dumps({k: v for k, v in lab_info.items() if k != 'path'})}", flush=True)
    state = State(work / "state.json")
    with common.database(work / "db") as server:
        prefix = "bench_" if server["private"] else f"bench{os.getpid()}_"
        prefix = state.data.setdefault("prefix", prefix)
        mode = "queries-only" if args.queries_only else "full"
        if state.data.setdefault("mode", mode) != mode:
            raise SystemExit(f"--keep {work} holds a {state.data['mode']} run; use another folder for a {mode} run")
        report_dir = work / "report"
        # The nightly copy sits next to the lab: hard links need the same filesystem.
        night_dir = lab_dir.parent / f".{lab_dir.name}-night-{prefix.rstrip('_')}"
        env = {
            "IBLPIPE_SCHEMA_PREFIX": prefix,
            "IBLPIPE_DATA_ROOT": str(lab_dir),
            "IBLPIPE_HOME": str(work),
            "IBLPIPE_REPORT_DIR": str(report_dir),
        }
        os.environ.update(env)
        from iblpipe import operations, schemas

        resumed = state.interrupted("cold")  # ingest and populate carry on where they stopped: no drop
        if "cold" not in state.data and not resumed:
            schemas.drop(prefix)
        operations.activate(prefix)
        try:
            if args.queries_only:
                cold = state.run("cold", lambda: cold_run(lab_dir, report_dir, args.processes, QUERY_TABLES, resumed))
                nightly = None
                q1 = state.run("queries_1x", lambda: queries(lab_dir, args.runs))
            else:
                cold = state.run("cold", lambda: cold_run(lab_dir, report_dir, args.processes, resumed=resumed))
                nightly = state.run("nightly", lambda: nightly_run(lab_dir, night_dir, report_dir, args.processes))
                os.environ["IBLPIPE_DATA_ROOT"] = str(night_dir)
                q1 = state.run("queries_1x", lambda: queries(night_dir, args.runs))
            inflated = q10 = None
            if args.scale > 1:
                inflated = state.run("inflate", lambda: inflate(prefix, args.scale))
                q10 = state.run(f"queries_{args.scale}x", lambda: queries_scaled(q1["trials"]["nickname"], args.runs))
            conn = schemas.modules()[0].schema.connection
            machine = {**common.machine(conn), "load_average_start": load_start}
        finally:
            if not args.keep:
                schemas.drop(prefix)
                shutil.rmtree(night_dir, ignore_errors=True)
    result = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((dt.datetime.now(dt.UTC) - started).total_seconds()),
        "args": {
            "mice": args.mice,
            "runs": args.runs,
            "processes": args.processes,
            "scale": args.scale,
            "queries_only": args.queries_only,
        },
        "machine": machine,
        "lab": lab_info,
        "measures": measures(cold, nightly, q1, q10, args.scale),
        "details": {
            "cold": cold,
            "nightly": nightly,
            "queries_1x": q1,
            "inflate": inflated,
            **({f"queries_{args.scale}x": q10} if args.scale > 1 else {}),
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench-{started:%Y%m%dT%H%M%S}-mice{args.mice}{'-queries' if args.queries_only else ''}.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(format_table(result))
    print(f"\nresults: {path}")
    return 0
