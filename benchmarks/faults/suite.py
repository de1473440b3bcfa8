"""``python -m benchmarks.faults`` (``make faults``): the fault suite, one table and one JSON file.

On a small demo lab and a private embedded MariaDB: a clean reference run, then each fault case under
its own schema prefix, compared with the reference table by table (see ``benchmarks/faults/__init__``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.faults import bad_inputs, concurrency, kills
from benchmarks.faults.harness import Lab, checksums, drop_prefix

RESULTS = Path(__file__).resolve().parents[1] / "results"
DEFAULTS = {"worker_kills": 20, "server_kills": 5, "ingest_kills": 5, "startup_kills": 2}
QUICK = {"worker_kills": 2, "server_kills": 1, "ingest_kills": 1, "startup_kills": 1}  # --quick: the smoke test
DEFAULT_MICE = 3  # (mice) the lab: a fast learner with probes, a typical learner, an untrainable mouse
DEFAULT_MAX_SESSIONS = 16  # (sessions per mouse) mouse 0 is recorded once; short enough for 20 kills

logger = logging.getLogger("benchmarks.faults")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.faults",
        description=(
            "Fault suite: SIGKILLs of workers and of the database server at random moments, overlapping runs, "
            "and every known bad input, on a small demo lab and a private MariaDB; prints one table and writes "
            "benchmarks/results/faults-<date>.json."
        ),
    )
    p.add_argument("--mice", type=int, default=DEFAULT_MICE, help=f"mice in the demo lab (default {DEFAULT_MICE})")
    p.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS, help="sessions per mouse at most")
    p.add_argument("--lab", type=Path, help="generate the lab here, or reuse the one there (default: temporary)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder of the JSON result (default benchmarks/results)")
    p.add_argument("--work", type=Path, help="keep the server, logs and copies here (default: temporary, removed)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random kill moments (default 0)")
    p.add_argument("--quick", action="store_true", help="one or two of each fault: the smoke test's run")
    for name, default in DEFAULTS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=int, help=f"how many (default {default}, --quick fewer)")
    p.add_argument("--skip", default="", help="comma-separated sections to skip: kills, concurrency, bad_inputs")
    args = p.parse_args(argv)
    counts = QUICK if args.quick else DEFAULTS
    for name, default in counts.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJ_IGNORE_CONFIG_FILE", "true")  # as `make` and the iblpipe command do
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = dt.datetime.now()
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="iblpipe-faults-")))
        work.mkdir(parents=True, exist_ok=True)
        lab_dir = args.lab or work / "lab"
        lab = Lab(lab=_ensure_lab(lab_dir, args.mice, args.max_sessions), home=work / "home")
        stack.callback(_stop_server, lab)
        result = run(lab, work, args)
    result["started"] = started.isoformat(timespec="seconds")
    result["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"faults-{started:%Y%m%dT%H%M%S}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    from benchmarks.faults.report import format_table

    print(format_table(result))
    print(f"\nresults: {path}")
    return 0


def _ensure_lab(path: Path, mice: int, max_sessions: int) -> Path:
    if (path / "ground_truth.json").exists():
        return path
    from iblpipe.demo import generate

    logger.info("generating a %d-mouse demo lab in %s", mice, path)
    generate(path, labs=1, mice=mice, seed=0, max_sessions=max_sessions)
    return path


def _stop_server(lab: Lab) -> None:
    from iblpipe import dbserver

    dbserver.stop(lab.home)


def run(lab: Lab, work: Path, args: argparse.Namespace) -> dict:
    """Every section not skipped; returns the result dict (also what the smoke test reads)."""
    from benchmarks.common import machine

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    rng = random.Random(args.seed)
    timings = {}
    t = time.monotonic()
    logger.info("reference: clean ingest and populate")
    reference_prefix = "fr_"
    drop_prefix(lab, reference_prefix)
    assert kills.ingest(lab, reference_prefix).returncode == 0
    reference_mirror = checksums(lab, reference_prefix, manual_only=True)
    clean = kills.clean_populate(lab, reference_prefix, work / "reference.log")
    reference = checksums(lab, reference_prefix)
    timings["reference_s"] = round(time.monotonic() - t, 1)
    result = {
        "reference": {"exit": clean, "tables": len(reference), "rows": sum(v[0] for v in reference.values())},
        "lab": json.loads((lab.lab / "ground_truth.json").read_text()).get("mice"),
    }
    sections = {
        "kills": [
            ("worker_kills", lambda: kills.worker_kills(lab, reference, work, args.worker_kills, rng)),
            (
                "server_kills_populate",
                lambda: kills.server_kills_populate(lab, reference, work, args.server_kills, rng),
            ),
            (
                "server_kills_ingest",
                lambda: kills.server_kills_ingest(lab, reference_mirror, work, args.ingest_kills, rng),
            ),
            ("server_kills_startup", lambda: kills.server_kills_startup(lab, reference, work, args.startup_kills, rng)),
        ],
        "concurrency": [
            ("two_ingests", lambda: concurrency.two_ingests(lab, reference_mirror, work)),
            ("ingest_deleting_during_populate", lambda: concurrency.ingest_deleting_during_populate(lab, work, rng)),
            ("four_workers", lambda: concurrency.four_workers(lab, reference, work)),
            ("two_nightlies_two_hosts", lambda: concurrency.two_nightlies(lab, reference, work)),
        ],
        "bad_inputs": [
            ("command_line", lambda: bad_inputs.command_line(lab, work)),
            ("broken_files", lambda: bad_inputs.broken_files(lab, work)),
            ("bad_records", lambda: bad_inputs.bad_records(lab, work)),
        ],
    }
    for section, cases in sections.items():
        result[section] = {}
        if section in skip:
            continue
        for name, case in cases:
            if args.quick and name in QUICK_SKIPS:
                continue
            logger.info("%s: %s", section, name)
            t = time.monotonic()
            result[section][name] = case()
            timings[f"{name}_s"] = round(time.monotonic() - t, 1)
    drop_prefix(lab, reference_prefix)
    result["seconds"] = timings
    result["machine"] = machine()
    if not args.work:
        shutil.rmtree(work / "home" / "logs", ignore_errors=True)
    return result


QUICK_SKIPS = ("ingest_deleting_during_populate", "two_nightlies_two_hosts", "bad_records")  # the slowest cases
