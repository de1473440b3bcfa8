"""SIGKILLs at random moments: of populate workers, of the server mid-populate, mid-ingest and at worker startup.

Each case works under its own schema prefix, then compares every table with the clean reference
(``harness.checksums``): missing and extra rows, tables whose content differs, keys a worker log
says it made twice, jobs left 'error' or 'reserved'.
"""

from __future__ import annotations

import logging
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
    iblpipe,
    kill_server,
    leftover_jobs,
    made_keys,
    wait_until,
)

logger = logging.getLogger(__name__)

WORKER_KILL_DELAY_S = (0.5, 6.0)  # (s) a populate worker is killed this long after it started (uniform)
SERVER_KILL_GAP_S = (1.0, 5.0)  # (s) between the work resuming and the next server kill (uniform)
STARTUP_KILL_DELAY_S = (0.1, 1.5)  # (s) the server is killed this long after `populate --processes 2` started
RESUME_TIMEOUT_S = 300  # (s) a case waits this long for the work to resume before it says it did not
STALE_S = 1.0  # (s) the clean run's --stale-timeout: the killed workers' reservations are redone
# (s) wait after the last kill, so that its reservation is older than STALE_S when the clean run looks
STALE_WAIT_S = STALE_S + 1.0


def clean_populate(lab: Lab, prefix: str, log: Path) -> int:
    """``populate`` once more with a short stale timeout (the killed workers' keys are redone)."""
    run = iblpipe(lab, prefix, "populate", "--no-progress", "--log-keys", "--stale-timeout", str(STALE_S))
    log.write_text(run.stderr)
    return run.returncode


def ingest(lab: Lab, prefix: str, source: Path | None = None):
    return iblpipe(lab, prefix, "ingest", "--source", f"dump:{source or lab.dump()}")


def worker_kills(lab: Lab, reference: dict, work: Path, kills: int, rng: random.Random) -> dict:
    """``kills`` populate workers each SIGKILLed a random moment after starting, then one clean populate."""
    prefix = "fk_worker_"
    drop_prefix(lab, prefix)
    assert ingest(lab, prefix).returncode == 0
    logs, killed_busy = [], 0
    for i in range(kills):
        log = work / f"worker-kill-{i}.log"
        worker = Background(lab, prefix, log, "populate", "--no-progress", "--log-keys")
        time.sleep(rng.uniform(*WORKER_KILL_DELAY_S))
        killed_busy += worker.running()
        worker.kill()
        logs.append(log)
    # A reservation younger than the stale timeout belongs, as far as any worker can tell, to a live worker:
    # the clean run would leave it (and its subject's histories) undone. Let the last one age first.
    time.sleep(STALE_WAIT_S)
    final = work / "worker-kill-final.log"
    rc = clean_populate(lab, prefix, final)
    made = made_keys(*logs, final)
    result = {
        "kills": kills,
        "killed_while_running": killed_busy,
        "final_exit": rc,
        "keys_made_twice": sum(1 for n in made.values() if n > 1),
        **compare(reference, checksums(lab, prefix)),
        "jobs_left": leftover_jobs(lab, prefix),
    }
    drop_prefix(lab, prefix)
    return result


def _resumed(worker: Background, before: int) -> bool:
    return len(made_keys(worker.log)) > before or not worker.running()


def server_kills_populate(lab: Lab, reference: dict, work: Path, kills: int, rng: random.Random) -> dict:
    """One populate run; the server is SIGKILLed ``kills`` times; the worker restarts it and goes on."""
    prefix = "fk_server_"
    drop_prefix(lab, prefix)
    assert ingest(lab, prefix).returncode == 0
    log = work / "server-kill-populate.log"
    worker = Background(lab, prefix, log, "populate", "--no-progress", "--log-keys")
    resumes, done = [], 0
    wait_until(lambda: len(made_keys(log)) > 0, RESUME_TIMEOUT_S)
    for _ in range(kills):
        time.sleep(rng.uniform(*SERVER_KILL_GAP_S))
        if not worker.running():
            break
        before = len(made_keys(log))
        kill_server(lab)
        done += 1
        resumes.append(wait_until(lambda b=before: _resumed(worker, b), RESUME_TIMEOUT_S))
    rc = worker.wait()
    final = work / "server-kill-populate-final.log"
    clean = clean_populate(lab, prefix, final)
    made = made_keys(log, final)
    result = {
        "kills": done,
        "worker_exit": rc,
        "final_exit": clean,
        "resume_s": [None if r is None else round(r, 1) for r in resumes],
        "restarts_logged": worker.text().count("is gone; restarting it"),
        "keys_made_twice": sum(1 for n in made.values() if n > 1),
        "keys_made_by_clean_run": len(made_keys(final)),
        **compare(reference, checksums(lab, prefix)),
        "jobs_left": leftover_jobs(lab, prefix),
    }
    drop_prefix(lab, prefix)
    return result


def server_kills_ingest(lab: Lab, reference_mirror: dict, work: Path, kills: int, rng: random.Random) -> dict:
    """``kills`` ingests each interrupted by a server SIGKILL, each followed by a plain re-run of the ingest."""
    prefix = "fk_ingest_"
    rounds = []
    for i in range(kills):
        drop_prefix(lab, prefix)
        log = work / f"server-kill-ingest-{i}.log"
        run = Background(lab, prefix, log, "ingest", "--source", f"dump:{lab.dump()}")
        # the ingest needs ~1-3 s on the small lab: kill inside that
        time.sleep(rng.uniform(0.3, 2.5))
        was_running = run.running()
        kill_server(lab)
        code = run.wait()
        start = time.monotonic()
        again = ingest(lab, prefix)
        rounds.append(
            {
                "killed_while_running": was_running,
                "interrupted_exit": code,
                "message": first_line(run.text()) if code else "",
                "traceback": "Traceback" in run.text(),
                "rerun_exit": again.returncode,
                "resume_s": round(time.monotonic() - start, 1),
                "equal": compare(reference_mirror, checksums(lab, prefix, manual_only=True))["tables_differing"] == [],
            }
        )
    drop_prefix(lab, prefix)
    return {
        "kills": kills,
        "killed_while_running": sum(r["killed_while_running"] for r in rounds),
        "mirror_equal_after_rerun": sum(r["equal"] for r in rounds),
        "tracebacks": sum(r["traceback"] for r in rounds),
        "rounds": rounds,
    }


def server_kills_startup(lab: Lab, reference: dict, work: Path, kills: int, rng: random.Random) -> dict:
    """``populate --processes 2`` with the server SIGKILLed while the workers start; they wait, restart it, finish."""
    prefix = "fk_startup_"
    rounds = []
    for i in range(kills):
        drop_prefix(lab, prefix)
        assert ingest(lab, prefix).returncode == 0
        log = work / f"server-kill-startup-{i}.log"
        worker = Background(lab, prefix, log, "populate", "--no-progress", "--log-keys", "--processes", "2")
        time.sleep(rng.uniform(*STARTUP_KILL_DELAY_S))
        kill_server(lab)
        resumed = wait_until(lambda w=worker: _resumed(w, 0), RESUME_TIMEOUT_S)
        rc = worker.wait()
        made = made_keys(log)
        rounds.append(
            {
                "exit": rc,
                "resume_s": None if resumed is None else round(resumed, 1),
                "traceback": "Traceback" in worker.text(),
                "keys_made_twice": sum(1 for n in made.values() if n > 1),
                **compare(reference, checksums(lab, prefix)),
                "jobs_left": leftover_jobs(lab, prefix),
            }
        )
    drop_prefix(lab, prefix)
    return {"kills": kills, "rounds": rounds}
