"""The whole benchmark: ``python -m benchmarks`` (``make bench``); see ``benchmarks/__init__.py``.

Stages, in order (each one's results are kept in ``<work>/state.json``, so ``--keep DIR`` resumes
an interrupted run at the first stage not done):

1. ``cold``: ``iblpipe ingest`` of the lab's Alyx dump, ``iblpipe populate --tables all``,
   ``iblpipe plot``, each timed in a subprocess on an empty database;
2. ``nightly``: one new session per mouse added to a hard-linked copy of the lab, then
   ``iblpipe nightly --source dump:<copy>/alyx_dump.json`` (ingest, populate, plot);
3. ``queries_1x``: one mouse's trials four ways, one region's unit table two ways;
4. ``inflate``: the queries' tables copied to 10x (``benchmarks.scale``);
5. ``queries_10x``: the same two queries again.

``--queries-only`` measures the queries at a size where a full cold populate takes hours
(IBL scale on two cores): the cold stage mirrors and populates only ``QUERY_TABLES``
(trials and the unit tables; no fits, statuses or figures), then ``queries_1x`` runs;
no nightly, no inflation.
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

from benchmarks import behavior, common, lab, region_units, scale

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_MICE = 200  # (mice) IBL scale: ~13,000 sessions, ~9 million trials
DEFAULT_RUNS = 5  # (count) timed repetitions after the warm-up
SCALE = 10  # (factor) database size of the scaling measure
ACRONYM = "CA1"  # region of the region query: every demo track crosses it
GOAL_VS_ONE = behavior.GOAL_VS_ONE  # (ratio) one mouse's trials at least this many times faster than ONE
GOAL_VS_RAW = behavior.GOAL_VS_RAW  # (ratio) and at most this many times the raw driver
GOAL_VS_DATAJOINT = behavior.GOAL_VS_DATAJOINT  # (ratio) and at least this many times faster than DataJoint's own
GOAL_TRIALS_S = behavior.GOAL_TRIALS_S  # (s) one mouse's whole history through the standard call
GOAL_JOINED = behavior.GOAL_JOINED  # (ratio) with session and subject joined in, at most this many times plain
GOAL_REGION_S = region_units.TARGET_QUERY_S  # (s) one region's table
GOAL_NIGHTLY_S = 120.0  # (s) a nightly run with one new session per mouse
GOAL_MIRROR_S = 600.0  # (s) first mirror of the lab's Alyx dump: minutes, not hours
GOAL_FLAT = 1.5  # (ratio) a query at 10x within this factor of 1x counts as flat (indexes used)
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
        help="populate only what the queries read (trials, units), then the 1x queries: no nightly, no 10x",
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
        result = func()
        print(f"[bench] {name}: {time.perf_counter() - start:.0f} s", flush=True)
        self.data[name] = result
        self.path.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        return result


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
        from iblpipe import schemas

        if "cold" not in state.data:
            schemas.drop(prefix)
        schemas.activate(prefix)
        try:
            if args.queries_only:
                cold = state.run("cold", lambda: cold_run(lab_dir, report_dir, args.processes, QUERY_TABLES))
                nightly = inflated = q10 = None
                q1 = state.run("queries_1x", lambda: queries(lab_dir, args.runs))
            else:
                cold = state.run("cold", lambda: cold_run(lab_dir, report_dir, args.processes))
                nightly = state.run("nightly", lambda: nightly_run(lab_dir, night_dir, report_dir, args.processes))
                os.environ["IBLPIPE_DATA_ROOT"] = str(night_dir)
                q1 = state.run("queries_1x", lambda: queries(night_dir, args.runs))
                inflated = q10 = None
                if args.scale > 1:
                    inflated = state.run("inflate", lambda: inflate(prefix, args.scale))
                    q10 = state.run(
                        f"queries_{args.scale}x", lambda: queries_scaled(q1["trials"]["nickname"], args.runs)
                    )
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
        "measures": measures(cold, nightly, q1, q10, args),
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


def _iblpipe(*args: str, env: dict | None = None) -> common.Run:
    """Run ``python -m iblpipe ARGS``; its output goes to ``$IBLPIPE_HOME/logs/<command>.log`` too."""
    run = common.run_python(["-m", "iblpipe", *args], env=env)
    logs = Path(os.environ["IBLPIPE_HOME"]) / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{args[0]}.log").write_text(f"$ iblpipe {' '.join(args)}\n{run.stdout}\n{run.stderr}")
    return run


def _counts() -> dict:
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


def cold_run(lab_dir: Path, report_dir: Path, processes: int, tables: str = "all") -> dict:
    """Mirror, populate ``tables`` and (for all tables) draw every figure on an empty database: one subprocess each."""
    ingest = _iblpipe("ingest", "--source", f"dump:{lab_dir / 'alyx_dump.json'}").check()
    populate = _iblpipe("populate", "--tables", tables, "--processes", str(processes), "--no-progress")
    if populate.returncode not in (0, 1):  # 1: some keys failed, counted below
        populate.check()
    plot_s = 0.0
    if tables == "all":
        plot_s = _iblpipe("plot", "--out", str(report_dir), "--processes", str(processes)).check().seconds
    counts = _counts()
    return {
        "ingest_s": ingest.seconds,
        "populate_s": populate.seconds,
        "plot_s": plot_s,
        "total_s": ingest.seconds + populate.seconds + plot_s,
        "processes": processes,
        "tables": tables,
        "populate_exit": populate.returncode,
        "populate_errors": _populate_errors(),
        "populate_maxrss_mb": populate.maxrss_mb,
        "ingest_maxrss_mb": ingest.maxrss_mb,
        **counts,
    }


def nightly_run(lab_dir: Path, night_dir: Path, report_dir: Path, processes: int) -> dict:
    """One new session per mouse in a copy of the lab, then ``iblpipe nightly`` on it."""
    start = time.perf_counter()
    lab.copy_lab(lab_dir, night_dir)
    copy_s = time.perf_counter() - start
    added = lab.add_night(night_dir)
    before = _counts()
    env = {"IBLPIPE_DATA_ROOT": str(night_dir)}
    source = f"dump:{night_dir / 'alyx_dump.json'}"
    run = _iblpipe("nightly", "--source", source, "--out", str(report_dir), "--processes", str(processes), env=env)
    if run.returncode not in (0, 1):
        run.check()
    after = _counts()
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


def _typical_mouse() -> str:
    """Nickname of the mouse with the median number of sessions (ties: first by name): a typical whole history.

    Not the busiest: a real trainer's question is about a typical mouse, and the median is
    stable from one demo generator version to the next.
    """
    from collections import Counter

    from iblpipe.schemas import acquisition, subject

    nicknames = (acquisition.Session.proj("subject_uuid") * subject.Subject.proj("subject_nickname")).to_arrays(
        "subject_nickname"
    )
    counts = Counter(str(n) for n in nicknames)
    ranked = sorted(counts, key=lambda n: (counts[n], n))
    return ranked[(len(ranked) - 1) // 2]


def queries(lab_dir: Path, runs: int) -> dict:
    """One mouse's trials (to_pandas, DataJoint's own, joined, file, raw driver, ONE) and one region's units."""
    from one.api import One

    from iblpipe.schemas import acquisition, ephys

    nickname = _typical_mouse()
    one = One(cache_dir=str(lab_dir), mode="local")
    eids = [str(k["session_uuid"]) for k in (acquisition.Session.proj() & behavior.mouse(nickname)).keys()]
    trials = behavior.compare_trials(nickname, one, eids, runs)
    insertions = (ephys.ProbeInsertion.proj("session_uuid", "probe_name") * ephys.Clusters.proj()).to_dicts()
    region = region_units.compare_region(ACRONYM, one, insertions, runs)
    return {"trials": trials, "region": region, "counts": _counts()}


def queries_scaled(nickname: str, runs: int) -> dict:
    """The same two queries on the inflated database (the copies have no ALF files: database side only)."""
    from iblpipe.schemas import behavior as behavior_tables
    from iblpipe.schemas.columnar import datajoint_frame

    restriction = behavior.mouse(nickname)
    query = behavior_tables.Trials & restriction
    pandas = common.timed(query.to_pandas, runs)
    datajoint = common.timed(lambda: datajoint_frame(query), runs)
    region = common.timed(region_units.region_query(ACRONYM).to_pandas, runs)
    return {
        "nickname": nickname,
        "trials": len(pandas.result),
        "to_pandas_s": pandas.median,
        "datajoint_s": datajoint.median,
        "region_rows": len(region.result),
        "region_s": region.median,
        "runs": {"to_pandas": pandas.times, "datajoint": datajoint.times, "region": region.times},
        "counts": _counts(),
    }


def inflate(prefix: str, factor: int) -> dict:
    start = time.perf_counter()
    tables = scale.inflate(prefix, factor)
    return {"factor": factor, "seconds": time.perf_counter() - start, "tables": tables}


def _measure(label, ours, unit, comparison=None, comparison_label="", ratio=None, ratio_label="", goal="", ok=None):
    return {
        "label": label,
        "ours": ours,
        "unit": unit,
        "comparison": comparison,
        "comparison_label": comparison_label,
        "ratio": ratio,
        "ratio_label": ratio_label,
        "goal": goal,
        "meets_goal": ok,
    }


def measures(cold: dict, nightly: dict | None, q1: dict, q10: dict | None, args: argparse.Namespace) -> dict:
    """Every measure: ours (median), the comparison from the same run, their ratio, the goal and whether it is met."""
    t, r = q1["trials"], q1["region"]
    mouse = f"{t['nickname']}: {t['sessions']} sessions, {t['trials']} trials"
    one = f"ONE load_object x {t['one_sessions']} sessions"
    out = {}
    call = "(Trials & key).to_pandas()"
    vs_one, vs_raw, vs_dj = (
        t["one_s"] / t["to_pandas_s"],
        t["to_pandas_s"] / t["raw_s"],
        t["datajoint_s"] / t["to_pandas_s"],
    )
    fast_enough = t["to_pandas_s"] <= GOAL_TRIALS_S
    out["trials_to_pandas_vs_one"] = _measure(
        f"one mouse's trials, {call} ({mouse})",
        t["to_pandas_s"],
        "s",
        t["one_s"],
        one,
        vs_one,
        "x faster than ONE",
        f">= {GOAL_VS_ONE:.0f}x and <= {GOAL_TRIALS_S * 1000:.0f} ms",
        vs_one >= GOAL_VS_ONE and fast_enough,
    )
    out["trials_to_pandas_vs_datajoint"] = _measure(
        f"one mouse's trials, {call}",
        t["to_pandas_s"],
        "s",
        t["datajoint_s"],
        "DataJoint 2.3.5's own to_pandas, same query",
        vs_dj,
        "x faster than DataJoint's",
        f">= {GOAL_VS_DATAJOINT:.0f}x",
        vs_dj >= GOAL_VS_DATAJOINT,
    )
    out["trials_to_pandas_vs_raw"] = _measure(
        f"one mouse's trials, {call}",
        t["to_pandas_s"],
        "s",
        t["raw_s"],
        "raw pymysql SELECT, same SQL",
        vs_raw,
        "x the raw driver",
        f"<= {GOAL_VS_RAW:.0f}x",
        vs_raw <= GOAL_VS_RAW,
    )
    out["trials_joined_vs_plain"] = _measure(
        "one mouse's trials with session and subject joined in, (Trials * Session * Subject & key).to_pandas()",
        t["joined_s"],
        "s",
        t["to_pandas_s"],
        call,
        t["joined_s"] / t["to_pandas_s"],
        "x the plain call",
        f"<= {GOAL_JOINED:.0f}x",
        t["joined_s"] / t["to_pandas_s"] <= GOAL_JOINED,
    )
    out["trials_aggregate_file"] = _measure(
        "one mouse's exported _ibl_subjectTrials.table.pqt, pandas.read_parquet",
        t["aggregate_s"],
        "s",
        t["to_pandas_s"],
        call,
        t["aggregate_s"] / t["to_pandas_s"],
        "x the standard call",
    )
    out["region_vs_one"] = _measure(
        f"one region's unit table, RegionUnits & {r['acronym']} ({r['rows']} rows)",
        r["db_s"],
        "s",
        r["one_s"],
        f"ONE clusters x {r['insertions']} insertions + group-by",
        r["one_s"] / r["db_s"],
        "x faster than ONE",
        f"< {GOAL_REGION_S * 1000:.0f} ms",
        r["db_s"] < GOAL_REGION_S,
    )
    out["mirror_cold"] = _measure(
        f"cold mirror of the Alyx dump (iblpipe ingest, {cold['sessions']} sessions)",
        cold["ingest_s"],
        "s",
        goal=f"< {GOAL_MIRROR_S:.0f} s",
        ok=cold["ingest_s"] < GOAL_MIRROR_S,
    )
    tables = cold.get("tables", "all")
    what = "everything" if tables == "all" else "trials and units"
    out["populate_cold"] = _measure(
        f"cold populate of {what} (iblpipe populate --tables {tables} --processes {cold['processes']})",
        cold["populate_s"],
        "s",
        cold["sessions_with_trials"] / cold["populate_s"],
        f"sessions/s; {cold['trials'] / cold['populate_s']:.0f} trials/s",
    )
    out["populate_cold"]["trials_per_s"] = cold["trials"] / cold["populate_s"]
    out["populate_peak_memory"] = _measure(
        "peak memory of a populate worker (ru_maxrss, largest process)", cold["populate_maxrss_mb"], "MiB"
    )
    if nightly is None:
        return out
    out["nightly"] = _measure(
        f"nightly run, 1 new session for each of {nightly['new_sessions']} mice (iblpipe nightly)",
        nightly["nightly_s"],
        "s",
        cold["total_s"],
        "cold run: ingest + populate + plot",
        nightly["nightly_s"] / cold["total_s"],
        "of the cold run",
        f"< {GOAL_NIGHTLY_S:.0f} s",
        nightly["nightly_s"] < GOAL_NIGHTLY_S,
    )
    if q10 is None:
        return out
    for name, ours, base, rows in (
        ("trials", q10["to_pandas_s"], t["to_pandas_s"], q10["trials"]),
        ("region", q10["region_s"], r["db_s"], q10["region_rows"]),
    ):
        what = "one mouse's trials (to_pandas)" if name == "trials" else f"one region's unit table ({ACRONYM})"
        out[f"{name}_{args.scale}x"] = _measure(
            f"{what} at {args.scale}x database size ({rows} rows)",
            ours,
            "s",
            base,
            "same query at 1x",
            ours / base,
            f"of 1x (rows x{rows / (t['trials'] if name == 'trials' else r['rows']):.0f})",
            f"flat (< {GOAL_FLAT}x)" if name == "trials" else f"< {GOAL_REGION_S * 1000:.0f} ms",
            ours / base < GOAL_FLAT if name == "trials" else ours < GOAL_REGION_S,
        )
    return out


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.1f} s"
    return f"{value:.0f} {unit}"


def format_table(result: dict) -> str:
    """The one table: measure, ours (median), comparison (same run), ratio, goal."""
    rows = [("measure", "ours (median)", "comparison (same run)", "ratio", "goal")]
    for m in result["measures"].values():
        if m["unit"] == "s" and m["comparison_label"].startswith("sessions/s"):
            comparison = f"{m['comparison']:.2f} {m['comparison_label']}"
        elif m["comparison"] is None:
            comparison = "-"
        else:
            comparison = f"{_value(m['comparison'], m['unit'])} ({m['comparison_label']})"
        ratio = "-" if m["ratio"] is None else f"{m['ratio']:.2f} {m['ratio_label']}"
        ok = "" if m["meets_goal"] is None else (" ok" if m["meets_goal"] else " MISSED")
        rows.append((m["label"], _value(m["ours"], m["unit"]), comparison, ratio, (m["goal"] or "-") + ok))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    mach, lab_info = result["machine"], result["lab"]
    lines.append("")
    lines.append(
        f"machine: {mach['cpu_count']} cpus ({mach['cpu_model']}), {mach['memory_gb']} GB, Python {mach['python']}, "
        f"{mach['database_server']}, DataJoint {mach['datajoint']}, "
        f"load average at start {mach['load_average_start']}, at end {mach['load_average']}"
    )
    gen = f", generated in {lab_info['generate_s']:.0f} s" if lab_info.get("generate_s") else ""
    lines.append(
        f"lab: {lab_info['mice']} mice, {lab_info['sessions']} sessions, {lab_info['trials']} trials, "
        f"{lab_info['probe_folders']} probe insertions, {lab_info['size_gb']} GB{gen}; "
        f"runs per query: {result['args']['runs']} after 1 warm-up; populate and nightly: 1 run each"
    )
    return "\n".join(lines)
