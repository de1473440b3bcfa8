"""A private one-node Slurm cluster for tests: munged, slurmctld and slurmd with our own ports and folders.

Debian's ``slurm-wlm`` is installed with apt-get when missing and we are root (like mariadb-server).
Partition ``local`` holds this machine; partition ``remote`` holds a node of another machine that
never starts (State=FUTURE), so a loopback database can be refused for it. ``start`` returns the
environment a Slurm client needs (``SLURM_CONF``); ``stop`` ends exactly what ``start`` started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT_S = 60  # (s) wait for the node to be idle after the daemons start
KILL_WAIT_S = 10  # (s) Slurm's SIGTERM-to-SIGKILL delay for killed tasks
NODE_CPUS = 2  # (cores) the node's size as Slurm schedules it


class SlurmUnavailable(Exception):
    """Slurm cannot run here (not installed and not root, or a daemon would not start)."""


@dataclass
class Cluster:
    folder: Path
    env: dict
    pids: list[int] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_installed() -> None:
    if all(shutil.which(b) or Path(f"/usr/sbin/{b}").exists() for b in ("slurmctld", "slurmd", "munged", "sbatch")):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SlurmUnavailable("slurm-wlm is not installed and installing it needs root and apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "slurm-wlm"]):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SlurmUnavailable(f"`{' '.join(cmd)}` failed: {(result.stderr or result.stdout).strip()[-300:]}")


def _sbin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _conf(folder: Path, node: str) -> str:
    memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    return f"""ClusterName=iblpipetest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={folder}/munge.sock
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmUser=root
SlurmdUser=root
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
KillWait={KILL_WAIT_S}
MinJobAge=3600
NodeName={node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={memory_mb} State=UNKNOWN
NodeName=farnode CPUs=1 RealMemory=1000 State=FUTURE
PartitionName=local Nodes={node} Default=YES MaxTime=INFINITE State=UP
PartitionName=remote Nodes=farnode MaxTime=INFINITE State=UP
"""


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def start(folder: Path) -> Cluster:
    """Start munged, slurmctld and slurmd in ``folder``; raises SlurmUnavailable with the reason."""
    if os.geteuid() != 0:
        raise SlurmUnavailable("the test cluster runs its daemons as root (SlurmUser=root)")
    ensure_installed()
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # munge wants its socket folder searchable by all
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    node = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(_conf(folder, node))
    env = dict(os.environ, SLURM_CONF=str(conf))
    cluster = Cluster(folder, env)
    try:
        subprocess.run(
            [_sbin("mungekey"), "-c", "-f", "-k", str(folder / "munge.key")], check=True, capture_output=True
        )
        munge = [_sbin("munged"), "-f", f"--socket={folder}/munge.sock", f"--key-file={folder}/munge.key"]
        munge += [f"--log-file={folder}/munged.log", f"--pid-file={folder}/munged.pid", f"--seed-file={folder}/seed"]
        for argv, pidfile in (
            (munge, "munged.pid"),
            ([_sbin("slurmctld"), "-f", str(conf)], "slurmctld.pid"),
            ([_sbin("slurmd"), "-f", str(conf), "-N", node], "slurmd.pid"),
        ):
            result = subprocess.run(argv, env=env, capture_output=True, text=True)
            deadline = time.monotonic() + 20
            while _pid(folder / pidfile) is None and time.monotonic() < deadline:
                time.sleep(0.1)
            pid = _pid(folder / pidfile)
            if result.returncode != 0 or pid is None:
                raise SlurmUnavailable(f"{Path(argv[0]).name} did not start: {(result.stderr or '').strip()[-300:]}")
            cluster.pids.append(pid)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-p", "local", "-o", "%t"], env=env, capture_output=True, text=True)
            if out.stdout.strip() == "idle":
                return cluster
            time.sleep(0.5)
        raise SlurmUnavailable(f"the node never became idle; see {folder}/slurmctld.log")
    except BaseException:
        stop(cluster)
        raise


def stop(cluster: Cluster) -> None:
    """Cancel every job, then end the daemons this cluster started."""
    subprocess.run(["scancel", "--full", "--user", "root"], env=cluster.env, capture_output=True)
    for pid in reversed(cluster.pids):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
