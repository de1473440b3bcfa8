"""Populate workers as a Slurm job array: the job script, checks before submitting, waiting, job ids.

Each array task runs one ``iblpipe populate`` worker against the configured database; the tasks share
the work through DataJoint's jobs tables like workers on any hosts. Credentials never enter the script
or ``squeue``: the tasks inherit the submitting environment (``sbatch --export=ALL``, Slurm's default),
``DJ_*`` included, or read the same ``datajoint.json``.

A task killed by the scheduler (time limit, preemption, ``scancel``) first gets SIGTERM: the worker
finishes its current key and exits. If the key outlasts Slurm's ``KillWait`` the SIGKILL that follows
rolls its transaction back, and the key's reservation is redone by the next worker after the stale
timeout (``--stale-timeout``, default 3600 s).

A worker under Slurm writes ``iblpipe:<host>:<pid>`` into its job's Comment, so ``iblpipe status`` can
name the Slurm job of each reservation (``reservation_jobs``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from iblpipe.errors import ConfigError, IblpipeError
from iblpipe.operations.options import WorkerOptions

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 4  # (tasks) array size of `iblpipe slurm submit`
DEFAULT_TIME = "04:00:00"  # (HH:MM:SS) time limit of each task
DEFAULT_MEM = "2G"  # (Slurm size) memory of each task; a worker peaks at ~650 MiB at IBL scale
POLL_S = 5.0  # (s) how often `wait` asks squeue whether the array is done
COMMAND_TIMEOUT_S = 60  # (s) longest a Slurm client command (sbatch, squeue, scontrol) may take
COMMENT_PREFIX = "iblpipe:"  # job Comment of a worker: iblpipe:<host>:<pid>
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


class SlurmError(IblpipeError):
    """A Slurm command failed or the cluster refused the job."""


@dataclass(frozen=True)
class ArraySpec:
    """What to submit: an array of ``workers`` populate workers with these options."""

    workers: int = DEFAULT_WORKERS
    worker: WorkerOptions = field(default_factory=WorkerOptions)  # each task's populate options (loop: until --time)
    prefix: str | None = None
    time: str = DEFAULT_TIME
    mem: str = DEFAULT_MEM
    partition: str | None = None
    log_dir: Path = Path(".")
    sbatch_args: list[str] = field(default_factory=list)  # passed through to sbatch as given

    def check(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers {self.workers}: must be at least 1")
        if not re.fullmatch(r"(\d+-)?\d+(:\d+){0,2}", self.time):
            raise ConfigError(f"--time {self.time!r}: expected Slurm's [D-]HH:MM:SS, MM:SS or minutes")
        if not re.fullmatch(r"\d+[KMGT]?", self.mem):
            raise ConfigError(f"--mem {self.mem!r}: expected a size such as 2G or 1500M")


def require_slurm() -> None:
    """One line and exit 2 when this machine has no Slurm client."""
    if shutil.which("sbatch") is None or shutil.which("squeue") is None:
        raise ConfigError("sbatch not found on PATH: run this on a Slurm login node (or install slurm-client)")


def _run(argv: list[str], *, stdin: str | None = None) -> str:
    from iblpipe import settings

    env = settings.child_environment()  # sbatch --export=ALL hands it to the tasks
    try:
        out = subprocess.run(argv, capture_output=True, text=True, input=stdin, timeout=COMMAND_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"`{argv[0]}` did not answer within {COMMAND_TIMEOUT_S} s: is slurmctld up?") from None
    if out.returncode != 0:
        reason = " ".join((out.stderr or out.stdout).split()) or f"exit code {out.returncode}"
        raise SlurmError(f"`{shlex.join(argv[:2])} ...` failed: {reason}")
    return out.stdout


def partition_nodes(partition: str | None) -> tuple[str, list[str]]:
    """The partition (the default one when None) and its node names; an unknown partition is a ConfigError."""
    known, default = {}, None
    for line in _run(["scontrol", "-o", "show", "partition"]).splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "PartitionName" not in fields:
            continue
        known[fields["PartitionName"]] = fields.get("Nodes", "")
        if fields.get("Default") == "YES":
            default = fields["PartitionName"]
    if partition is None:
        if default is None:
            raise ConfigError("the cluster has no default partition: pass --partition")
        partition = default
    if partition not in known:
        raise ConfigError(f"--partition {partition!r}: unknown; this cluster has {', '.join(sorted(known)) or 'none'}")
    nodes = known[partition]
    names = _run(["scontrol", "show", "hostnames", nodes]).split() if nodes and nodes != "(null)" else []
    return partition, names


def _node_address(node: str) -> str:
    """The node's NodeAddr (its name when Slurm does not show the node, e.g. one in state FUTURE)."""
    try:
        out = _run(["scontrol", "-o", "show", "node", node])
    except SlurmError:
        return node
    m = re.search(r"\bNodeAddr=(\S+)", out)
    return m.group(1) if m else node


def _is_this_machine(name: str) -> bool:
    if name in LOOPBACK_NAMES or name in (socket.gethostname(), socket.getfqdn()):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_reachable_from(partition: str | None, db_host: str, origin: str) -> str:
    """The partition to use; refuses a loopback database when the partition has nodes on other machines."""
    partition, nodes = partition_nodes(partition)
    if _is_this_machine(db_host) or db_host.startswith("127."):
        remote = [n for n in nodes if not (_is_this_machine(n) or _is_this_machine(_node_address(n)))]
        if remote:
            raise ConfigError(
                f"the database is at {db_host} (from {origin}), a loopback address the nodes of partition "
                f"{partition!r} ({', '.join(remote[:3])}{', ...' if len(remote) > 3 else ''}) cannot reach: "
                "point DJ_HOST at a server they can reach, or use a partition of this machine"
            )
    return partition


def job_script(spec: ArraySpec, *, python: str = sys.executable) -> str:
    """The batch script of the array: one populate worker per task; no credentials in it."""
    lines = [
        "#!/bin/bash",
        "#SBATCH --job-name=iblpipe-populate",
        f"#SBATCH --array=0-{spec.workers - 1}",
        f"#SBATCH --time={spec.time}",
        f"#SBATCH --mem={spec.mem}",
        "#SBATCH --cpus-per-task=1",
        f"#SBATCH --output={spec.log_dir / 'populate-%A_%a.log'}",
        "#SBATCH --export=ALL",  # DJ_* and IBLPIPE_* come from the submitting environment, never from here
    ]
    if spec.partition:
        lines.append(f"#SBATCH --partition={spec.partition}")
    from iblpipe.operations.populate import worker_argv

    argv = worker_argv(spec.worker.replace(log_keys=True), prefix=spec.prefix, python=python)
    lines += [
        "# SIGTERM (scancel, time limit, preemption) lets the worker finish its key: exec, so it receives it",
        f"exec {shlex.join(argv)}",
        "",
    ]
    return "\n".join(lines)


def submit(spec: ArraySpec, script_path: Path) -> str:
    """Write the script and ``sbatch`` it; the array's job id."""
    script_path.parent.mkdir(parents=True, exist_ok=True)
    spec.log_dir.mkdir(parents=True, exist_ok=True)
    script_path.write_text(job_script(spec))
    out = _run(["sbatch", "--parsable", *spec.sbatch_args, str(script_path)])
    job_id = out.strip().split(";")[0]
    if not job_id.isdigit():
        raise SlurmError(f"sbatch answered {out.strip()!r}, not a job id")
    logger.info("submitted Slurm array %s: %d populate workers (logs in %s)", job_id, spec.workers, spec.log_dir)
    return job_id


def wait(job_id: str, *, poll: float = POLL_S, stop=lambda: False) -> dict[str, tuple[str, int]]:
    """Wait until no task of the array is queued or running; task id -> (final state, exit code).

    Empty when Slurm no longer keeps the records (``MinJobAge``): the caller then reads the database.
    """
    while not stop():
        if not _run(["squeue", "-h", "-j", job_id, "-o", "%i"]).strip():
            break
        time.sleep(poll)
    try:
        out = _run(["scontrol", "-o", "show", "job", job_id])
    except SlurmError:
        return {}
    states = {}
    for line in out.splitlines():
        task = re.search(r"\bArrayTaskId=(\S+)", line)
        state = re.search(r"\bJobState=(\S+)", line)
        code = re.search(r"\bExitCode=(\d+):(\d+)", line)
        if task and state:
            exit_code = int(code.group(1)) if code else -1
            if code and code.group(2) != "0":  # killed by a signal
                exit_code = 128 + int(code.group(2))
            states[task.group(1)] = (state.group(1), exit_code)
    return states


def tag_this_job() -> None:
    """Under Slurm: record ``iblpipe:<host>:<pid>`` in this job's Comment (what ``reservation_jobs`` reads)."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job or shutil.which("scontrol") is None:
        return
    import platform

    comment = f"{COMMENT_PREFIX}{platform.node()}:{os.getpid()}"
    try:
        _run(["scontrol", "update", f"JobId={job}", f"Comment={comment}"])
    except SlurmError as exc:  # the job runs anyway; status just cannot name it
        logger.warning("could not tag Slurm job %s with this worker's pid: %s", job, exc)
    else:
        logger.info("worker of Slurm job %s (array task %s)", job, os.environ.get("SLURM_ARRAY_TASK_ID", "-"))


def reservation_jobs() -> dict[tuple[str, int], str]:
    """(host, pid) -> Slurm job id (``<array>_<task>``) of every running worker that tagged its job; {} without Slurm."""
    if shutil.which("squeue") is None:
        return {}
    try:
        out = _run(["squeue", "-h", "-o", "%i|%k"])
    except SlurmError:
        return {}
    found = {}
    for line in out.splitlines():
        job, _, comment = line.partition("|")
        if comment.startswith(COMMENT_PREFIX):
            host, _, pid = comment.removeprefix(COMMENT_PREFIX).rpartition(":")
            if pid.isdigit():
                found[(host, int(pid))] = job.strip()
    return found


def prepare(spec: ArraySpec, *, dry_run: bool = False) -> ArraySpec:
    """Check everything a submission needs (Slurm, options, the database, whether the nodes reach it).

    Returns the spec with its partition resolved. A dry run starts no embedded server.
    """
    import dataclasses

    from iblpipe.connection import check_reachable, resolve

    require_slurm()
    spec.check()
    db = resolve(start_embedded=not dry_run)
    if db is not None:
        check_reachable(db)
    host, origin = (db.host, db.origin) if db is not None else ("127.0.0.1", "embedded, not running")
    return dataclasses.replace(spec, partition=check_reachable_from(spec.partition, host, origin))


def script_path() -> Path:
    """Where a new array's job script is written: ``$IBLPIPE_HOME/slurm/populate-<time>.sh``."""
    import datetime as dt

    from iblpipe import settings

    return settings.home() / "slurm" / f"populate-{dt.datetime.now():%Y%m%dT%H%M%S%f}.sh"


def wait_array(job_id: str) -> int:
    """Wait for the array; 1 when a task failed or was killed, else 0."""
    logger.info("waiting for Slurm job array %s", job_id)
    states = wait(job_id)
    failed = {task: s for task, s in states.items() if s[0] != "COMPLETED" or s[1] != 0}
    for task, (state, code) in sorted(failed.items()):
        logger.error("Slurm task %s_%s ended %s (exit %d): see its log", job_id, task, state, code)
    logger.info("Slurm array %s done: %d tasks, %d failed", job_id, len(states), len(failed))
    return 1 if failed else 0
