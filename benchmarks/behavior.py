"""Benchmark: behaviour populate, and one mouse's trials from the database vs ONE vs the raw driver.

    python -m benchmarks.behavior --mice 20 --sessions 30 --trials 600

Writes a synthetic ALF lab (learning mice, ``tests.behavior_lab``) and its ONE
cache in a temporary folder, registers the sessions under a private prefix and
times:

(a) populate of every behaviour table (Trials -> PsychometricFit, ReactionTime
    -> BehaviorHistory -> DailySummary, TrainingStatus -> LearningCurve);
(b) one mouse's whole trial history: ``(Trials & mouse).to_pandas()`` (the columnar path),
    DataJoint 2.3.5's own ``to_pandas`` of the same query, the same with session and
    subject joined in, reading the mouse's exported ``_ibl_subjectTrials.table.pqt``,
    and ONE (``One(cache_dir).load_object(eid, 'trials')`` for each of its sessions,
    with ``check_hash=False`` and, on a few sessions, with ONE's defaults);
(c) the raw pymysql SELECT of the same rows into a DataFrame.

Goals (issue 15): the standard call at most 0.1 s, at least 10x faster than ONE and 20x
faster than DataJoint's own ``to_pandas``; with session and subject joined in at most 2x
the plain call. PASS/FAIL uses ONE without md5 checks (the stricter comparison).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import fetch_frame, populate, raw_select, timed

GOAL_VS_ONE = 10.0  # (ratio) the standard call at least this many times faster than ONE from local disk
GOAL_VS_RAW = 2.0  # (ratio) and at most this many times slower than the raw driver
GOAL_VS_DATAJOINT = 20.0  # (ratio) and at least this many times faster than DataJoint 2.3.5's own to_pandas
GOAL_TRIALS_S = 0.1  # (s) one mouse's whole history (~52k trials) through the standard call
GOAL_JOINED = 2.0  # (ratio) with session and subject attributes joined in, at most this many times the plain call
LAB = "benchlab"
ONE_DEFAULT_SESSIONS = 3  # (count) sessions loaded with ONE's defaults (md5 check on every file: slow)


def build_lab(root: Path, n_mice: int, n_sessions: int, n_trials: int) -> list[dict]:
    """Write every mouse's sessions (training, then biased, then ephys); return their metadata."""
    from iblpipe.sources import ids
    from iblpipe.sources.alf import session_path
    from tests.behavior_lab import PROTOCOLS, make_trials, write_trials

    rows = []
    for m in range(n_mice):
        mouse = f"BB{m:03d}"
        for s in range(n_sessions):
            date = (dt.date(2024, 1, 1) + dt.timedelta(days=s)).isoformat()
            skill = min(1.0, s / 10)
            kind = "training" if s < 12 else "biased" if s < 20 else "ephys"
            trials = make_trials(
                m * 1000 + s,
                n_trials,
                threshold=40 - 28 * skill,
                lapse=0.3 - 0.27 * skill,
                bias=5 * (1 - skill),
                biased=kind != "training",
            )
            write_trials(session_path(root, LAB, mouse, date, 1), trials)
            rows.append(
                {
                    "mouse": mouse,
                    "date": date,
                    "protocol": PROTOCOLS[kind],
                    "subject_uuid": ids.subject_uuid(LAB, mouse),
                    "session_uuid": ids.session_uuid(LAB, mouse, date, 1),
                }
            )
    return rows


def register(rows: list[dict]) -> None:
    """Insert Lab, Subject, SubjectLab and Session rows in bulk."""
    from iblpipe.schemas import acquisition, reference, subject

    frame = pd.DataFrame(rows)
    reference.Lab.insert1({"lab_name": LAB}, skip_duplicates=True)
    mice = frame.drop_duplicates("mouse")
    subject.Subject.insert([{"subject_uuid": r.subject_uuid, "subject_nickname": r.mouse} for r in mice.itertuples()])
    subject.SubjectLab.insert([{"subject_uuid": r.subject_uuid, "lab_name": LAB} for r in mice.itertuples()])
    acquisition.Session.insert(
        [
            {
                "session_uuid": r.session_uuid,
                "subject_uuid": r.subject_uuid,
                "session_lab": LAB,
                "session_start_time": dt.datetime.fromisoformat(r.date) + dt.timedelta(hours=10),
                "session_number": 1,
                "task_protocol": r.protocol,
            }
            for r in frame.itertuples()
        ]
    )


def mouse(nickname: str):
    """The sessions of one mouse, as a restriction: ``acquisition.Session * subject.Subject & nickname``."""
    from iblpipe.schemas import acquisition, subject

    return acquisition.Session * subject.Subject & {"subject_nickname": nickname}


def one_trials(one, eids: list, check_hash: bool = False) -> pd.DataFrame:
    """ONE's way to the same frame: ``load_object(eid, 'trials')`` per session, one DataFrame.

    ``check_hash=False`` skips ONE's md5 check of every file (ONE's default checks it): the
    stricter comparison for us.
    """
    frames = []
    for eid in eids:
        # no collection: ONE finds the one holding trials (alf, or alf/task_01 of a chained session)
        trials = one.load_object(eid, "trials", check_hash=check_hash)
        frame = trials.to_df()
        frame.insert(0, "eid", str(eid))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def compare_trials(nickname: str, one, eids: list, runs: int, one_runs: int | None = None) -> dict:
    """Median times (s) of one mouse's whole trial history as a DataFrame, several ways, after a warm-up each.

    ``to_pandas_s``: ``(Trials & mouse).to_pandas()`` (columnar); ``fetch_frame_s``: its
    ``fetch(format='frame')``; ``datajoint_s``: DataJoint's own
    ``to_pandas`` of the same query; ``joined_s``: ``(Trials * Session * Subject & nick).to_pandas()``;
    ``aggregate_s``: ``pandas.read_parquet`` of the mouse's exported trials file; ``raw_s``: the same
    SQL through a fresh pymysql connection; ``one_s``: ONE loading the mouse's sessions ``eids`` from
    the local cache (``one_runs`` repetitions, default ``runs``).
    """
    from iblpipe.compute.aggregates import TRIALS_FILE
    from iblpipe.export import subject_frames
    from iblpipe.schemas import behavior
    from iblpipe.schemas.columnar import datajoint_frame

    restriction = mouse(nickname)
    query = behavior.Trials & restriction
    pandas = timed(query.to_pandas, runs)
    frame = timed(lambda: fetch_frame(query), runs)
    datajoint = timed(lambda: datajoint_frame(query), runs)
    joined = timed((behavior.Trials * restriction).to_pandas, runs)
    raw = timed(lambda: raw_select(query), runs)
    loaded = timed(lambda: one_trials(one, eids), runs if one_runs is None else one_runs)
    (subject_uuid,) = {k["subject_uuid"] for k in restriction.proj("subject_uuid").to_dicts()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / TRIALS_FILE  # the lab name goes only into the sessions file
        subject_frames(subject_uuid, LAB, nickname)[TRIALS_FILE].to_parquet(path, index=False)
        aggregate = timed(lambda: pd.read_parquet(path), runs)
    return {
        "nickname": nickname,
        "sessions": int(pandas.result.index.get_level_values("session_uuid").nunique()),
        "trials": len(pandas.result),
        "one_sessions": len(eids),
        "one_trials": len(loaded.result),
        "same": bool(pandas.result.equals(datajoint.result)),
        "fetch_frame_same": bool(frame.result.equals(pandas.result)),
        "to_pandas_s": pandas.median,
        "to_pandas_cpu_s": pandas.cpu_s,
        "fetch_frame_s": frame.median,
        "datajoint_s": datajoint.median,
        "joined_s": joined.median,
        "joined_trials": len(joined.result),
        "aggregate_s": aggregate.median,
        "raw_s": raw.median,
        "one_s": loaded.median,
        "runs": {
            "to_pandas": pandas.times,
            "fetch_frame": frame.times,
            "datajoint": datajoint.times,
            "joined": joined.times,
            "aggregate": aggregate.times,
            "raw": raw.times,
            "one": loaded.times,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mice", type=int, default=10, help="mice (default 10)")
    parser.add_argument("--sessions", type=int, default=30, help="sessions per mouse (default 30)")
    parser.add_argument("--trials", type=int, default=600, help="trials per session (default 600)")
    parser.add_argument("--runs", type=int, default=5, help="timed repetitions of each fetch (default 5)")
    parser.add_argument("--prefix", default="bench_behavior_", help="schema prefix, dropped at the end")
    args = parser.parse_args(argv)

    from one.alf.cache import make_parquet_db
    from one.api import One

    from iblpipe import operations, schemas, settings

    schemas.drop(args.prefix)
    operations.activate(args.prefix)
    from iblpipe.schemas import behavior

    try:
        with tempfile.TemporaryDirectory() as tmp, settings.override(data_root=tmp):
            root = Path(tmp)
            start = time.perf_counter()
            rows = build_lab(root, args.mice, args.sessions, args.trials)
            register(rows)
            print(
                f"lab: {args.mice} mice x {args.sessions} sessions x {args.trials} trials "
                f"written and registered in {time.perf_counter() - start:.1f} s"
            )

            tables = (
                behavior.TrialSet,
                behavior.PsychometricFit,
                behavior.ReactionTime,
                behavior.BehaviorHistory,
                behavior.DailySummary,
                behavior.TrainingStatus,
                behavior.LearningCurve,
            )
            total = 0.0
            for table in tables:
                start = time.perf_counter()
                populate(table, prefix=args.prefix)
                took = time.perf_counter() - start
                total += took
                print(f"(a) populate {table.__name__:16s} {took:7.1f} s  ({len(table())} rows)")
            print(f"(a) populate, all behaviour tables: {total:.1f} s for {len(behavior.Trials())} trials")

            make_parquet_db(root, hash_ids=False, hash_files=True)  # md5s in the cache: no mismatch warnings
            one = One(cache_dir=root, mode="local")
            paths = [f"{LAB}/Subjects/BB000/{r['date']}/001" for r in rows if r["mouse"] == "BB000"]
            eids = [one.path2eid(root / p) for p in paths]
            r = compare_trials("BB000", one, eids, args.runs)
            sample = eids[:ONE_DEFAULT_SESSIONS]
            t_default = timed(lambda: one_trials(one, sample, check_hash=True), 1, warmup=0).median
            t_default *= len(eids) / len(sample)  # extrapolated: ONE's default md5 check is slow
            print(f"(b) one mouse, {r['sessions']} sessions, {r['trials']} trials:")
            print(f"    to_pandas()          {r['to_pandas_s'] * 1000:8.1f} ms   (equals DataJoint's: {r['same']})")
            print(f"    DataJoint to_pandas  {r['datajoint_s'] * 1000:8.1f} ms")
            print(f"    * Session * Subject  {r['joined_s'] * 1000:8.1f} ms")
            print(f"    exported file        {r['aggregate_s'] * 1000:8.1f} ms   (pandas.read_parquet)")
            print(
                f"    ONE load_object      {r['one_s'] * 1000:8.1f} ms   ({r['one_trials']} trials, check_hash=False)"
            )
            print(f"    ONE load_object      {t_default * 1000:8.1f} ms   (ONE defaults, from {len(sample)} sessions)")
            print(f"(c) raw pymysql SELECT   {r['raw_s'] * 1000:8.1f} ms   ({r['trials']} rows)")
            vs_one, vs_raw = r["one_s"] / r["to_pandas_s"], r["to_pandas_s"] / r["raw_s"]
            vs_dj, joined = r["datajoint_s"] / r["to_pandas_s"], r["joined_s"] / r["to_pandas_s"]
            ok = vs_one >= GOAL_VS_ONE and vs_raw <= GOAL_VS_RAW and vs_dj >= GOAL_VS_DATAJOINT and r["same"]
            ok = ok and joined <= GOAL_JOINED and r["to_pandas_s"] <= GOAL_TRIALS_S
            print(
                f"to_pandas: {vs_one:.1f}x faster than ONE without md5 checks, "
                f"{t_default / r['to_pandas_s']:.0f}x than ONE's defaults (goal >= {GOAL_VS_ONE:.0f}x), "
                f"{vs_dj:.1f}x DataJoint's own (goal >= {GOAL_VS_DATAJOINT:.0f}x), joined {joined:.2f}x "
                f"(goal <= {GOAL_JOINED:.0f}x), {vs_raw:.2f}x the raw driver (goal <= {GOAL_VS_RAW:.0f}x): "
                f"{'PASS' if ok else 'FAIL'}"
            )
            return 0 if ok else 1
    finally:
        schemas.drop(args.prefix)


if __name__ == "__main__":
    raise SystemExit(main())
