"""Shared benchmark helpers: timing, the private database, subprocesses with their peak memory, the machine."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Timing:
    """Wall times (s) of repeated calls after a warm-up, and the last result.

    ``cpu_s``: the mean, over the timed calls, of the CPU seconds of this process (all its threads)
    plus those of the local database server's process (None when the server is not on this machine;
    a mean because the kernel counts CPU time in 10 ms ticks). On a machine shared with other jobs
    the wall time includes waiting for a core; a call that computes here and in the server one after
    the other takes about its busy CPU time on an idle machine.
    """

    times: list[float]
    result: object = field(default=None, repr=False)
    cpu_s: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def server_pid() -> int | None:
    """The pid of the MariaDB server on this machine listening on ``$DJ_PORT`` (None when there is none)."""
    port = os.environ.get("DJ_PORT")
    if not port or os.environ.get("DJ_HOST", "127.0.0.1") not in ("127.0.0.1", "localhost"):
        return None
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().split(b"\0")
            if args and args[0].endswith((b"mariadbd", b"mysqld")) and f"--port={port}".encode() in args:
                return int(cmdline.parent.name)
    return None


def _process_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc/PID/stat`` fields 14-15); 0 when unknown."""
    if pid is None:
        return 0.0
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def timed(func: Callable[[], object], runs: int, warmup: int = 1) -> Timing:
    """Call ``func`` ``warmup`` times untimed, then ``runs`` times timed (wall, and busy CPU: see ``Timing``)."""
    result = None
    for _ in range(warmup):
        result = func()
    server = server_pid()
    times = []
    busy = time.process_time() + _process_cpu_s(server)
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    busy = (time.process_time() + _process_cpu_s(server) - busy) / len(times)
    return Timing(times, result, busy if server is not None else None)


def fetch_frame(query) -> pd.DataFrame:
    """``query.fetch(format='frame')``, DataJoint 2's deprecation warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return query.fetch(format="frame")


def raw_select(query) -> pd.DataFrame:
    """The query's SELECT through a fresh pymysql connection into a DataFrame: no decoding at all (uuids stay bytes).

    The baseline of "the raw driver": same SQL as DataJoint sends, ``cursor.fetchall`` and
    ``DataFrame.from_records``.
    """
    import pymysql

    sql = query.make_sql()
    conn = pymysql.connect(
        host=os.environ.get("DJ_HOST", "127.0.0.1"),
        port=int(os.environ.get("DJ_PORT", 3306)),
        user=os.environ.get("DJ_USER", "root"),
        password=os.environ.get("DJ_PASS", ""),
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            names = [d[0] for d in cursor.description]
            return pd.DataFrame.from_records(list(cursor.fetchall()), columns=names)
    finally:
        conn.close()


def populate(*tables, prefix: str | None = None) -> None:
    """Populate ``tables`` (classes) through the operations layer, as ``iblpipe populate --tables`` does.

    One worker in this process (``operations.populate``: job reservation, one key at a time), so a timed
    call measures what a pipeline worker pays. Raises when a key failed (its error is logged). DataJoint's
    by-design warnings about our jobs tables are dropped during the call, as ``iblpipe`` drops them.
    """
    from iblpipe import operations, schemas
    from iblpipe.cli import BY_DESIGN_WARNINGS

    labels = tuple(schemas.table_label(table) for table in tables)
    dj_logger = logging.getLogger("datajoint")

    def by_design(record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in BY_DESIGN_WARNINGS)

    dj_logger.addFilter(by_design)
    try:
        result = operations.populate(operations.WorkerOptions(tables=labels), prefix=prefix)
    finally:
        dj_logger.removeFilter(by_design)
    if result.exit_code:
        raise RuntimeError(f"populate {', '.join(labels)} failed: a key gave an error (logged above)")


@contextlib.contextmanager
def database(home: Path | None = None) -> Iterator[dict]:
    """The server to benchmark on: ``$DJ_HOST`` when set, otherwise a private embedded MariaDB.

    The private server lives in ``home`` (a temporary folder when None) on a free loopback
    port and is stopped afterwards; ``DJ_*`` point at it meanwhile, for this process and
    every subprocess.
    """
    if os.environ.get("DJ_HOST"):
        yield {"host": os.environ["DJ_HOST"], "port": int(os.environ.get("DJ_PORT", 3306)), "private": False}
        return
    from iblpipe import dbserver

    with contextlib.ExitStack() as stack:
        if home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="iblpipe-bench-db-")))
        info = stack.enter_context(dbserver.serving(home))
        yield {"host": info.host, "port": info.port, "private": True, "home": str(home)}


@dataclass(frozen=True)
class Run:
    """A finished subprocess: wall time, peak resident memory of it and its waited-for children."""

    argv: list[str]
    returncode: int
    seconds: float
    maxrss_mb: float
    stdout: str
    stderr: str

    def check(self) -> Run:
        if self.returncode != 0:
            tail = "\n".join(self.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"`{' '.join(self.argv)}` exited with {self.returncode}:\n{tail}")
        return self


def run_python(args: list[str], env: dict[str, str] | None = None, timeout: float | None = None) -> Run:
    """Run ``python ARGS`` (e.g. ``-m iblpipe populate``) and measure it.

    ``maxrss_mb`` comes from ``wait4``: on Linux the largest resident set of the process
    and of every descendant it waited for (its worker processes), in MiB.
    """
    argv = [sys.executable, *args]
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=full_env, cwd=REPO)
        deadline = None if timeout is None else start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(argv[1:], proc.returncode, seconds, usage.ru_maxrss / 1024, out.read(), err.read())


def machine(conn=None) -> dict:
    """CPU count, memory, Python, platform, MariaDB and library versions, the git commit."""
    import datajoint
    import one

    memory_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    server = None
    if conn is not None:
        server = conn.query("SELECT VERSION()").fetchone()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(memory_kb / 1024**2, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],  # 1, 5, 15 min, when called
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database_server": server,
        "datajoint": datajoint.__version__,
        "one": getattr(one, "__version__", None),
        "pandas": pd.__version__,
        "git_commit": commit.stdout.strip() or None,
    }


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def self_maxrss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
