"""Runs that overlap: two ingests, an ingest with deletions during populate, four workers, two nightlies.

Each reports the exit codes, the message of a failed run and, after the overlapping runs (and one
clean populate where work may be left), how the tables compare with a clean reference.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from benchmarks.faults.harness import (
    Background,
    Lab,
    checksums,
    compare,
    drop_prefix,
    first_line,
    leftover_jobs,
    made_keys,
)
from benchmarks.faults.kills import clean_populate, ingest

DELETED_SESSIONS = 2  # (sessions) removed from the dump by the ingest that runs during populate
INGEST_DELAY_S = (2.0, 6.0)  # (s) the deleting ingest starts this long after the workers (uniform)


def _outcome(run: Background, code: int) -> dict:
    text = run.text()
    return {"exit": code, "message": first_line(text) if code else "", "traceback": "Traceback" in text}


def two_ingests(lab: Lab, reference_mirror: dict, work: Path) -> dict:
    """Two identical ingests of the same dump into an empty mirror, started together."""
    prefix = "fc_ingest_"
    drop_prefix(lab, prefix)
    runs = [
        Background(lab, prefix, work / f"two-ingests-{i}.log", "ingest", "--source", f"dump:{lab.dump()}")
        for i in (0, 1)
    ]
    outcomes = [_outcome(r, r.wait()) for r in runs]
    result = {"runs": outcomes, **compare(reference_mirror, checksums(lab, prefix, manual_only=True))}
    drop_prefix(lab, prefix)
    return result


def reduced_dump(lab: Lab, out: Path, rng: random.Random) -> tuple[Path, list[str]]:
    """The lab's dump without ``DELETED_SESSIONS`` sessions that have no probe insertion."""
    records = json.loads(lab.dump().read_text())
    inserted = {r["fields"]["session"] for r in records if r["model"] == "experiments.probeinsertion"}
    sessions = [r["pk"] for r in records if r["model"] == "actions.session" and r["pk"] not in inserted]
    gone = set(rng.sample(sorted(sessions), DELETED_SESSIONS))
    kept = [r for r in records if r["pk"] not in gone]
    for record in kept:  # as Alyx does: a water administration outlives its session
        if record["model"] == "actions.wateradministration" and record["fields"].get("session") in gone:
            record["fields"]["session"] = None
    out.write_text(json.dumps(kept))
    return out, sorted(gone)


def ingest_deleting_during_populate(lab: Lab, work: Path, rng: random.Random) -> dict:
    """Workers populate while an ingest deletes sessions gone from the dump; then a clean populate.

    The reference is the reduced dump mirrored and populated on its own.
    """
    source, gone = reduced_dump(lab, work / "reduced_dump.json", rng)
    ref_prefix, prefix = "fc_delref_", "fc_delete_"
    for p in (ref_prefix, prefix):
        drop_prefix(lab, p)
    assert ingest(lab, ref_prefix, source).returncode == 0
    assert clean_populate(lab, ref_prefix, work / "delete-reference.log") in (0, 1)
    reference = checksums(lab, ref_prefix)

    assert ingest(lab, prefix).returncode == 0
    workers = Background(
        lab, prefix, work / "delete-workers.log", "populate", "--no-progress", "--log-keys", "--processes", "2"
    )
    time.sleep(rng.uniform(*INGEST_DELAY_S))
    deleting = Background(lab, prefix, work / "delete-ingest.log", "ingest", "--source", f"dump:{source}")
    ingest_outcome = _outcome(deleting, deleting.wait())
    workers_outcome = _outcome(workers, workers.wait())
    final = clean_populate(lab, prefix, work / "delete-final.log")
    result = {
        "deleted_sessions": len(gone),
        "ingest": ingest_outcome,
        "workers": workers_outcome,
        "final_exit": final,
        **compare(reference, checksums(lab, prefix)),
        "jobs_left": leftover_jobs(lab, prefix),
    }
    for p in (ref_prefix, prefix):
        drop_prefix(lab, p)
    return result


def four_workers(lab: Lab, reference: dict, work: Path) -> dict:
    """``populate --processes 4`` on an empty mirror: no key twice, tables equal to one worker's."""
    prefix = "fc_four_"
    drop_prefix(lab, prefix)
    assert ingest(lab, prefix).returncode == 0
    log = work / "four-workers.log"
    run = Background(lab, prefix, log, "populate", "--no-progress", "--log-keys", "--processes", "4")
    code = run.wait()
    made = made_keys(log)
    pids = {line.split()[2] for line in run.text().splitlines() if " made " in line}
    result = {
        **_outcome(run, code),
        "workers_that_made_keys": len(pids),
        "keys_made_twice": sum(1 for n in made.values() if n > 1),
        **compare(reference, checksums(lab, prefix)),
        "jobs_left": leftover_jobs(lab, prefix),
    }
    drop_prefix(lab, prefix)
    return result


def two_nightlies(lab: Lab, reference: dict, work: Path) -> dict:
    """Two ``nightly --skip-plot`` runs on one database from two hosts (two $IBLPIPE_HOME, DJ_* given)."""
    prefix = "fc_nightly_"
    drop_prefix(lab, prefix)
    runs = []
    for host in ("a", "b"):
        env = lab.configured_env(IBLPIPE_HOME=work / f"host-{host}")
        args = ("nightly", "--skip-plot", "--source", f"dump:{lab.dump()}")
        runs.append(Background(lab, prefix, work / f"nightly-{host}.log", *args, env=env))
    outcomes = [_outcome(r, r.wait()) for r in runs]
    final = clean_populate(lab, prefix, work / "nightly-final.log")
    result = {
        "runs": outcomes,
        "final_exit": final,
        **compare(reference, checksums(lab, prefix)),
        "jobs_left": leftover_jobs(lab, prefix),
    }
    drop_prefix(lab, prefix)
    return result
