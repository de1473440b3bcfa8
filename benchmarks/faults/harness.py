"""What every fault case uses: the lab, the embedded server, CLI runs, background workers, table checksums.

The suite runs its own embedded MariaDB in ``<work>/home`` and its commands find it as users do
(no ``DJ_*``, ``IBLPIPE_HOME`` set), so a worker restarts it after a crash. Cases that need a
"configured server" (two hosts) pass ``DJ_*`` explicitly.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pymysql

from iblpipe import dbserver

REPO = Path(__file__).resolve().parents[2]
MADE = re.compile(r"INFO iblpipe\.populate: made (\S+) (.*)$")
POLL_S = 0.1  # (s) how often a waiting case looks at a log or a process
COMMAND_TIMEOUT_S = 1800  # (s) longest one CLI command of the suite may run
UNTRACKED = ("ingest_run", "mirror_fence")  # record when or how often (run time, ingest count), not what


@dataclass
class Lab:
    """The demo lab and the suite's private server."""

    lab: Path  # the generated demo lab (read-only for the cases; they copy what they break)
    home: Path  # IBLPIPE_HOME of the suite: the embedded server lives in home/mariadb

    def env(self, **extra) -> dict:
        """Environment of an iblpipe command that finds the suite's embedded server as a user's would."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJ_") or k == "DJ_IGNORE_CONFIG_FILE"}
        env.update(PYTHONPATH=str(REPO), IBLPIPE_HOME=str(self.home), IBLPIPE_DATA_ROOT=str(self.lab))
        env.setdefault("DJ_IGNORE_CONFIG_FILE", "true")
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def configured_env(self, **extra) -> dict:
        """Environment naming the server explicitly with ``DJ_*`` (a worker on another host would)."""
        info = self.server()
        return self.env(DJ_HOST=info.host, DJ_PORT=info.port, DJ_USER=info.user, DJ_PASS=info.password, **extra)

    def server(self) -> dbserver.ServerInfo:
        """The running server (started if needed)."""
        return dbserver.start(self.home)

    def server_pid(self) -> int | None:
        info = dbserver.running_info(self.home)
        return None if info is None else info.pid

    def dump(self) -> Path:
        return self.lab / "alyx_dump.json"


def iblpipe(lab: Lab, prefix: str, *args: str, env: dict | None = None, timeout: float = COMMAND_TIMEOUT_S):
    """``iblpipe --prefix PREFIX ARGS`` to the end; a CompletedProcess with text output.

    The fault suite runs the CLI in subprocesses on purpose: it checks exit codes and messages as a user
    sees them and kills workers. The CLI is the operations layer's front end.
    """
    return subprocess.run(
        [sys.executable, "-m", "iblpipe", "--prefix", prefix, *args],
        capture_output=True,
        text=True,
        env=env or lab.env(),
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


class Background:
    """An iblpipe command in the background, its output in a log file (a process the fault suite can kill)."""

    def __init__(self, lab: Lab, prefix: str, log: Path, *args: str, env: dict | None = None) -> None:
        self.log = log
        self.handle = open(log, "w")  # noqa: SIM115  (closed in wait)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "iblpipe", "--prefix", prefix, *args],
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env or lab.env(),
            start_new_session=True,  # its own process group: a kill reaches --processes children too
        )
        self.started = time.monotonic()

    def kill(self) -> None:
        """SIGKILL the command and every process of its group (its worker children)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait()

    def wait(self, timeout: float = COMMAND_TIMEOUT_S) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.handle.close()

    def running(self) -> bool:
        return self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def made_keys(*logs: Path) -> Counter:
    """(table, key) -> how many times the worker logs say it was made (``--log-keys``)."""
    found = Counter()
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            m = MADE.search(line)
            if m:
                found[m.groups()] += 1
    return found


def wait_until(condition, timeout: float) -> float | None:
    """Seconds until ``condition()`` held, or None after ``timeout`` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(POLL_S)
    return None


def kill_server(lab: Lab) -> int | None:
    """SIGKILL the embedded server (a crash: its state file stays); its pid, or None if it was not running."""
    pid = lab.server_pid()
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not dbserver._pid_alive(pid), 30)
    return pid


# ---------------------------------------------------------------- table contents


@contextlib.contextmanager
def _cursor(lab: Lab):
    """A cursor on the suite's server (started if needed), closed with its connection afterwards."""
    info = lab.server()
    conn = pymysql.connect(host=info.host, port=info.port, user=info.user, password=info.password)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def _like(prefix: str) -> str:
    """A LIKE pattern for the databases of ``prefix`` (``_`` taken literally)."""
    return prefix.replace("_", r"\_") + "%"


def checksums(lab: Lab, prefix: str, *, manual_only: bool = False) -> dict[str, tuple[int, int, int]]:
    """``db.table`` (prefix removed) -> (rows, xor of row crc32, sum of row crc32) for every table of ``prefix``.

    Jobs and other DataJoint bookkeeping tables (``~...``) are left out, and so is ``mirror.IngestRun``
    (when, not what). ``manual_only``: only the mirrored tables (Manual, Lookup), for ingest cases.
    """
    out = {}
    with _cursor(lab) as cur:
        cur.execute(
            "SELECT table_schema, table_name, GROUP_CONCAT(column_name ORDER BY ordinal_position SEPARATOR ',') "
            "FROM information_schema.columns WHERE table_schema LIKE %s GROUP BY table_schema, table_name",
            (_like(prefix),),
        )
        for schema, table, columns in sorted(cur.fetchall()):
            if table.startswith("~") or table in UNTRACKED or (manual_only and table.startswith("_")):
                continue
            row = ", ".join(f"COALESCE(`{c}`, '<null>')" for c in columns.split(","))
            crc = f"CRC32(CONCAT_WS('|', {row}))"
            cur.execute(
                f"SELECT COUNT(*), COALESCE(BIT_XOR({crc}), 0), COALESCE(SUM({crc}), 0) FROM `{schema}`.`{table}`"
            )
            n, xor, total = cur.fetchone()
            out[f"{schema.removeprefix(prefix)}.{table}"] = (int(n), int(xor), int(total))
    return out


def compare(reference: dict, found: dict) -> dict:
    """Row and content differences of ``found`` against ``reference`` (``checksums`` of two prefixes)."""
    names = sorted(set(reference) | set(found))
    missing = sum(max(0, reference.get(n, (0,))[0] - found.get(n, (0,))[0]) for n in names)
    extra = sum(max(0, found.get(n, (0,))[0] - reference.get(n, (0,))[0]) for n in names)
    differ = [n for n in names if reference.get(n) != found.get(n)]
    return {
        "tables": len(names),
        "tables_equal": len(names) - len(differ),
        "rows": sum(v[0] for v in found.values()),
        "missing_rows": missing,
        "extra_rows": extra,
        "tables_differing": differ,
    }


def leftover_jobs(lab: Lab, prefix: str) -> dict[str, int]:
    """Jobs still 'error' or 'reserved' in any jobs table of ``prefix`` (none after a clean run)."""
    counts = Counter()
    with _cursor(lab) as cur:
        cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE %s AND table_name LIKE '~~%%'",
            (_like(prefix),),
        )
        for schema, table in cur.fetchall():
            cur.execute(f"SELECT status, COUNT(*) FROM `{schema}`.`{table}` GROUP BY status")
            for status, n in cur.fetchall():
                if status in ("error", "reserved"):
                    counts[status] += int(n)
    return {"error": counts["error"], "reserved": counts["reserved"]}


def drop_prefix(lab: Lab, prefix: str) -> None:
    """Drop every database of ``prefix`` (a case starts from nothing)."""
    with _cursor(lab) as cur:
        cur.execute("SHOW DATABASES LIKE %s", (_like(prefix),))
        names = [r[0] for r in cur.fetchall()]
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for name in names:
            cur.execute(f"DROP DATABASE `{name}`")


def first_line(text: str) -> str:
    """The last error line of a command's stderr, or its first line: what a user reads."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if " ERROR " in line]
    return (errors[-1] if errors else (lines[-1] if lines else "")).split(": ", 1)[-1][:300]
