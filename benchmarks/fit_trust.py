"""Benchmark (issue 20): the cold and warm cost of ConvergedFit and StatusStability on the demo lab.

    python -m benchmarks.fit_trust [--mice 12] [--max-sessions 30]

Generates the ``make demo`` lab (3 labs, 12 mice, 30 sessions each by default), mirrors it into
a private prefix (on ``$DJ_HOST`` or a private MariaDB), populates the tables every status
needs, then times, in this one process, through the operations layer (``operations.ingest``,
``operations.populate`` of one table: one worker, as ``iblpipe populate --tables`` runs it):

- ``ConvergedFit.populate()`` cold (every block of every session);
- ``StatusStability.populate()`` cold (every window fitted with K other seeds);
- ``StatusStability`` again after deleting its rows (every verdict from ``StatusMemo``: what a
  nightly run pays for windows it has seen).

Prints one line per measurement; reports, never fails.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import database, populate

PREFIX = "bench_fit_trust_"


def _timed(label: str, func) -> float:
    start = time.perf_counter()
    func()
    seconds = time.perf_counter() - start
    print(f"{label}: {seconds:.1f} s", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mice", type=int, default=12)
    parser.add_argument("--max-sessions", type=int, default=30)
    args = parser.parse_args(argv)

    from iblpipe import operations, schemas, settings
    from iblpipe.demo import generate
    from iblpipe.schemas import behavior

    with tempfile.TemporaryDirectory(prefix="iblpipe-fit-trust-") as tmp, database():
        root = Path(tmp) / "lab"
        summary = generate(root, labs=3, mice=args.mice, seed=0, max_sessions=args.max_sessions)
        print(f"demo lab: {summary.mice} mice, {summary.sessions} sessions, {summary.trials} trials", flush=True)
        schemas.drop(PREFIX)
        try:
            with settings.override(data_root=root):
                operations.ingest(f"dump:{root / 'alyx_dump.json'}", prefix=PREFIX)
                populate(behavior.TrialSet, behavior.PsychometricFit, behavior.BehaviorHistory, prefix=PREFIX)
                _timed("TrainingStatus cold (FIT_SEED only)", lambda: populate(behavior.TrainingStatus, prefix=PREFIX))
                n_blocks = len(behavior.PsychometricFit())
                seconds = _timed(
                    f"ConvergedFit cold ({n_blocks} blocks)", lambda: populate(behavior.ConvergedFit, prefix=PREFIX)
                )
                print(f"  {seconds / max(n_blocks, 1) * 1000:.0f} ms per block", flush=True)
                n_dates = len(behavior.TrainingStatus())
                k = int(behavior.FitParams.fetch1("stability_seeds"))
                _timed(
                    f"StatusStability cold ({n_dates} dates, K={k})",
                    lambda: populate(behavior.StatusStability, prefix=PREFIX),
                )
                behavior.StatusStability.delete(prompt=False)
                _timed(
                    "StatusStability warm (every window in StatusMemo)",
                    lambda: populate(behavior.StatusStability, prefix=PREFIX),
                )
                unstable = len(behavior.StatusStability & "stable = 0")
                print(f"unstable dates: {unstable} of {n_dates}", flush=True)
        finally:
            schemas.drop(PREFIX)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
