"""The benchmark's query stages: one mouse's trials, one region's units, every trial of the lab into Arrow."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import behavior, common, region_units, stages

ACRONYM = "CA1"  # region of the region queries: every demo track crosses it
ARROW_MAX_TRIALS = 20_000_000  # (rows) every trial into Arrow at 10x only up to this: ~3 GB peak on a shared machine
UNITS_ACRONYMS = ("CA1", "CA")  # ephys.units of these: the CA1, and CA (CA1-3), ~20k units at IBL scale


def typical_mouse() -> str:
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


def units(runs: int) -> list[dict]:
    """``ephys.units(acronym)`` for each of ``UNITS_ACRONYMS``: one row per unit, with session, subject and lab."""
    from iblpipe.schemas import ephys

    out = []
    for acronym in UNITS_ACRONYMS:
        timing = common.timed(lambda acronym=acronym: ephys.units(acronym), runs)
        out.append(
            {
                "acronym": acronym,
                "rows": len(timing.result),
                "units_s": timing.median,
                "units_cpu_s": timing.cpu_s,
                "runs": timing.times,
            }
        )
    return out


def lab_arrow() -> dict:
    """``behavior.Trials().to_arrow()`` in a fresh process (``benchmarks.lab_arrow``): seconds and peak memory."""
    run = common.run_python(["-m", "benchmarks.lab_arrow"]).check()
    return {**json.loads(run.stdout.strip().splitlines()[-1]), "process_maxrss_mb": run.maxrss_mb}


def queries(lab_dir: Path, runs: int) -> dict:
    """One mouse's trials (to_pandas, fetch, DataJoint's own, joined, file, raw driver, ONE), one region's units
    (RegionUnits vs ONE, ``ephys.units``) and every trial of the lab into one Arrow table."""
    from one.api import One

    from iblpipe.schemas import acquisition, ephys

    nickname = typical_mouse()
    one = One(cache_dir=str(lab_dir), mode="local")
    eids = [str(k["session_uuid"]) for k in (acquisition.Session.proj() & behavior.mouse(nickname)).keys()]
    trials = behavior.compare_trials(nickname, one, eids, runs)
    insertions = (ephys.ProbeInsertion.proj("session_uuid", "probe_name") * ephys.Clusters.proj()).to_dicts()
    region = region_units.compare_region(ACRONYM, one, insertions, runs)
    return {
        "trials": trials,
        "region": region,
        "units": units(runs),
        "lab_arrow": lab_arrow(),
        "counts": stages.counts(),
    }


def queries_scaled(nickname: str, runs: int) -> dict:
    """The same queries on the inflated database (the copies have no ALF files: database side only)."""
    from iblpipe.schemas import behavior as behavior_tables
    from iblpipe.schemas.columnar import datajoint_frame

    restriction = behavior.mouse(nickname)
    query = behavior_tables.Trials & restriction
    pandas = common.timed(query.to_pandas, runs)
    frame = common.timed(lambda: common.fetch_frame(query), runs)
    datajoint = common.timed(lambda: datajoint_frame(query), runs)
    joined = common.timed((behavior_tables.Trials * restriction).to_pandas, runs)
    region = common.timed(region_units.region_query(ACRONYM).to_pandas, runs)
    counts = stages.counts()
    return {
        "nickname": nickname,
        "trials": len(pandas.result),
        "to_pandas_s": pandas.median,
        "to_pandas_cpu_s": pandas.cpu_s,
        "fetch_frame_s": frame.median,
        "datajoint_s": datajoint.median,
        "joined_s": joined.median,
        "region_rows": len(region.result),
        "region_s": region.median,
        "units": units(runs),
        "lab_arrow": lab_arrow() if counts["trials"] <= ARROW_MAX_TRIALS else None,
        "runs": {
            "to_pandas": pandas.times,
            "fetch_frame": frame.times,
            "datajoint": datajoint.times,
            "joined": joined.times,
            "region": region.times,
        },
        "counts": counts,
    }
