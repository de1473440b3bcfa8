"""Benchmark: one region's units across all insertions, from the database vs recomputed from ALF.

    python -m benchmarks.region_units --insertions 400 --clusters 300

Writes a synthetic ALF lab in a temporary folder, loads the ontology, populates Clusters -> UnitQuality ->
RegionUnits under a private prefix, then times
``(ephys.RegionUnits & {"acronym": "CA1"}).to_pandas()`` against the same
per-insertion CA1 counts recomputed from the ALF files with ``one.alf.io``.
Target: the database query under 100 ms at ~100k units.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import populate, timed

TARGET_QUERY_S = 0.100  # (s) one region's table across all insertions
LAB = "benchlab"
CLUSTER_ATTRIBUTES = ["brainLocationIds", "metrics"]  # what a region count needs
IBL_DEFAULT_SORTER = "iblsorter"  # SpikeSortingLoader.load_spike_sorting()'s default request (not the dataclass's)


def build_lab(root: Path, n_insertions: int, n_clusters: int, n_spikes: int) -> list[dict]:
    """Write ``n_insertions`` probes (two per session, 10 sessions per mouse); return their metadata."""
    from iblpipe.sources import ids
    from iblpipe.sources.ephys import probe_path
    from tests.ephys_data import write_probe

    rows = []
    for i in range(n_insertions):
        mouse, session, probe = f"BM{i // 20:03d}", (i // 2) % 10, f"probe{i % 2:02d}"
        date = (dt.date(2024, 1, 1) + dt.timedelta(days=session)).isoformat()
        write_probe(probe_path(root, LAB, mouse, date, 1, probe), seed=i, n_clusters=n_clusters, n_spikes=n_spikes)
        rows.append(
            {
                "mouse": mouse,
                "date": date,
                "probe": probe,
                "subject_uuid": ids.subject_uuid(LAB, mouse),
                "session_uuid": ids.session_uuid(LAB, mouse, date, 1),
                "probe_insertion_uuid": ids.name_uuid("probe", LAB, mouse, date, 1, probe),
            }
        )
    return rows


def register(rows: list[dict]) -> None:
    """Insert Lab, Subject, SubjectLab, Session and ProbeInsertion rows in bulk."""
    from iblpipe.schemas import acquisition, ephys, reference, subject

    frame = pd.DataFrame(rows)
    reference.Lab.insert1({"lab_name": LAB}, skip_duplicates=True)
    mice = frame.drop_duplicates("mouse")
    subject.Subject.insert([{"subject_uuid": r.subject_uuid, "subject_nickname": r.mouse} for r in mice.itertuples()])
    subject.SubjectLab.insert([{"subject_uuid": r.subject_uuid, "lab_name": LAB} for r in mice.itertuples()])
    sessions = frame.drop_duplicates("session_uuid")
    acquisition.Session.insert(
        [
            {
                "session_uuid": r.session_uuid,
                "subject_uuid": r.subject_uuid,
                "session_lab": LAB,
                "session_start_time": dt.datetime.fromisoformat(r.date) + dt.timedelta(hours=9),
                "session_number": 1,
            }
            for r in sessions.itertuples()
        ]
    )
    ephys.ProbeInsertion.insert(
        [
            {"probe_insertion_uuid": r.probe_insertion_uuid, "session_uuid": r.session_uuid, "probe_name": r.probe}
            for r in frame.itertuples()
        ]
    )


def region_counts(clusters: Iterable[tuple[object, dict]], acronym: str) -> pd.DataFrame:
    """Per-insertion unit and good-unit counts in ``acronym`` and its descendants: a pandas group-by.

    ``clusters`` yields ``(insertion id, clusters object)`` with ``brainLocationIds_ccf_2017`` and
    ``metrics`` (the clusters.metrics table), as ``one.alf.io.load_object`` or ONE returns them.
    """
    from iblatlas.regions import BrainRegions

    br = BrainRegions()
    target = br.acronym2id(acronym)
    descendants = np.unique(np.concatenate([br.descendants(np.array([t]))["id"] for t in target]))
    frames = []
    for pid, obj in clusters:
        regions = obj.get("brainLocationIds_ccf_2017")
        if regions is None:
            continue  # no histology yet: no region rows either
        frame = pd.DataFrame({"region": regions, "good": obj["metrics"]["label"].to_numpy() == 1})
        frame["probe_insertion_uuid"] = pid
        frames.append(frame[frame["region"].isin(descendants)])
    units = pd.concat(frames)
    return units.groupby("probe_insertion_uuid").agg(n_units=("good", "size"), n_good=("good", "sum"))


def recompute_from_alf(root: Path, rows: list[dict], acronym: str) -> pd.DataFrame:
    """``region_counts`` from the ALF files alone (``one.alf.io``)."""
    import one.alf.io as alfio

    from iblpipe.sources.ephys import probe_path

    def load():
        for r in rows:
            folder = probe_path(root, LAB, r["mouse"], r["date"], 1, r["probe"])
            yield r["probe_insertion_uuid"], alfio.load_object(folder, "clusters", attribute=CLUSTER_ATTRIBUTES)

    return region_counts(load(), acronym)


def recompute_with_one(one, insertions: list[dict], acronym: str) -> pd.DataFrame:
    """``region_counts`` from the files IBL's ``SpikeSortingLoader`` loads through ONE, per insertion.

    The loader picks the sorting and revision, asked for what ``load_spike_sorting()`` asks by
    default (``spike_sorter="iblsorter"``: iblsorter, then pykilosort, else the shortest collection;
    the rule of SortingParams ``ibl_default``). A loader built without ``spike_sorter`` keeps its
    dataclass default ``"pykilosort"`` for object-level loads, so on a probe with both sorters it
    would read pykilosort. A unit's region is its channel's
    (``channels.brainLocationIds_ccf_2017[clusters.channels]``, as ``merge_clusters`` assigns it).
    ``insertions``: dicts with ``probe_insertion_uuid``, ``session_uuid`` (the eid) and ``probe_name``.
    """
    import types

    from brainbox.io.one import SpikeSortingLoader
    from iblatlas.regions import BrainRegions

    atlas = types.SimpleNamespace(regions=BrainRegions())  # acronyms without building (downloading) a volume
    sessions = {str(eid): row for eid, row in one._cache["sessions"].iterrows()}  # index: str or UUID by ONE version

    def load():
        for r in insertions:
            s = sessions[str(r["session_uuid"])]
            path = Path(one.cache_dir, s["lab"], "Subjects", s["subject"], str(s["date"]), f"{int(s['number']):03d}")
            # by session path: ONE's eid2path takes only uuid4 eids, the demo's are uuid5
            ssl = SpikeSortingLoader(
                one=one, session_path=path, pname=r["probe_name"], atlas=atlas, spike_sorter=IBL_DEFAULT_SORTER
            )
            clusters = ssl.load_spike_sorting_object("clusters", check_hash=False)
            channels = ssl.load_channels(check_hash=False)
            yield (
                r["probe_insertion_uuid"],
                {
                    "brainLocationIds_ccf_2017": channels["atlas_id"][clusters["channels"]],
                    "metrics": clusters["metrics"],
                },
            )

    return region_counts(load(), acronym)


def region_query(acronym: str, rule_name: str = "ibl_label"):
    """One region's unit table across every insertion: ``ephys.RegionUnits & acronym & rule``."""
    from iblpipe.schemas import ephys

    return ephys.RegionUnits & {"acronym": acronym, "rule_name": rule_name}


def agree(table: pd.DataFrame, counts: pd.DataFrame) -> bool:
    """The database's per-insertion counts equal the recomputed ones."""
    same = table.reset_index().set_index("probe_insertion_uuid")[["n_units", "n_good"]].sort_index()
    return same.astype(int).equals(counts.sort_index().astype(int))


def compare_region(acronym: str, one, insertions: list[dict], runs: int, one_runs: int | None = None) -> dict:
    """Median times (s) of one region's unit table from the database and recomputed through ONE, after a warm-up."""
    query = region_query(acronym)
    db = timed(query.to_pandas, runs)
    alf = timed(lambda: recompute_with_one(one, insertions, acronym), runs if one_runs is None else one_runs)
    return {
        "acronym": acronym,
        "rows": len(db.result),
        "insertions": len(insertions),
        "agree": agree(db.result, alf.result),
        "db_s": db.median,
        "one_s": alf.median,
        "runs": {"db": db.times, "one": alf.times},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--insertions", type=int, default=400, help="probe insertions to write (default 400)")
    parser.add_argument("--clusters", type=int, default=300, help="clusters per insertion (default 300)")
    parser.add_argument("--spikes", type=int, default=20000, help="spikes per insertion (default 20000)")
    parser.add_argument("--runs", type=int, default=20, help="timed repetitions of the query (default 20)")
    parser.add_argument("--acronym", default="CA1", help="region to query (default CA1)")
    parser.add_argument("--prefix", default="bench_ephys_", help="schema prefix, dropped at the end")
    parser.add_argument("--keep", action="store_true", help="keep the schemas (not the ALF files) for inspection")
    args = parser.parse_args(argv)

    from iblpipe import operations, schemas, settings
    from iblpipe.schemas import ephys, reference

    schemas.drop(args.prefix)
    operations.activate(args.prefix)
    try:
        with tempfile.TemporaryDirectory() as tmp, settings.override(data_root=tmp):
            root = Path(tmp)
            t0 = time.perf_counter()
            reference.BrainRegion.load()
            print(
                f"BrainRegion.load: {time.perf_counter() - t0:.2f} s ({len(reference.BrainRegion.Ancestor())} closure rows)"
            )
            t0 = time.perf_counter()
            rows = build_lab(root, args.insertions, args.clusters, args.spikes)
            register(rows)
            print(f"wrote and registered {len(rows)} insertions: {time.perf_counter() - t0:.1f} s")
            for table in (ephys.Clusters, ephys.UnitQuality, ephys.RegionRollup):
                t0 = time.perf_counter()
                populate(table, prefix=args.prefix)
                print(f"{table.__name__}.populate: {time.perf_counter() - t0:.1f} s, {len(table())} rows")
            print(f"units: {len(ephys.Clusters.Cluster())}, RegionUnits rows: {len(ephys.RegionUnits())}")

            query = region_query(args.acronym)
            timing = timed(query.to_pandas, args.runs)
            table, db_s = timing.result, timing.median
            t0 = time.perf_counter()
            alf = recompute_from_alf(root, rows, args.acronym)
            alf_s = time.perf_counter() - t0
            agree_ = agree(table, alf)
            print(f"{args.acronym}: {len(table)} rows, database median {db_s * 1000:.1f} ms over {args.runs} runs")
            print(
                f"recomputed from ALF with one.alf.io: {alf_s * 1000:.0f} ms (ratio {alf_s / db_s:.0f}x), agree={agree_}"
            )
            t0 = time.perf_counter()
            listing = ephys.units(args.acronym)
            print(
                f"ephys.units({args.acronym!r}): {len(listing)} units with session, subject, lab in {(time.perf_counter() - t0) * 1000:.0f} ms"
            )
            status = "PASS" if db_s < TARGET_QUERY_S else "FAIL"
            print(f"{status}: target < {TARGET_QUERY_S * 1000:.0f} ms")
            return 0 if status == "PASS" and agree_ else 1
    finally:
        if not args.keep:
            schemas.drop(args.prefix)


if __name__ == "__main__":
    raise SystemExit(main())
