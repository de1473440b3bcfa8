"""The operations layer: typed functions that the CLI, the nightly job, the demo and the benchmarks call.

Commands parse arguments into these types (``WorkerOptions``, ``NightlyOptions``) and print results;
operations never read ``argparse`` namespaces and never print. A worker in another process (``populate
--processes``, a Slurm task) gets its options through ``WorkerOptions.argv()``.
"""

from iblpipe.operations.database import activate, activate_worker
from iblpipe.operations.demo import generate_lab
from iblpipe.operations.ingest import exit_code as ingest_exit_code
from iblpipe.operations.ingest import ingest, read_source
from iblpipe.operations.nightly import NightlyOptions, NightlyResult, nightly
from iblpipe.operations.options import WorkerOptions
from iblpipe.operations.outputs import draw, export, status
from iblpipe.operations.populate import PopulateResult, populate, spawn_workers, worker_argv

__all__ = [
    "activate",
    "activate_worker",
    "generate_lab",
    "ingest",
    "ingest_exit_code",
    "read_source",
    "NightlyOptions",
    "NightlyResult",
    "nightly",
    "WorkerOptions",
    "draw",
    "export",
    "status",
    "PopulateResult",
    "populate",
    "spawn_workers",
    "worker_argv",
]
