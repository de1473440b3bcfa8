"""Two worker hosts, one database host, on one machine: three network namespaces with their own host names.

The database runs in namespace ``db`` (reachable at 10.213.1.1 from host A and
10.213.2.1 from host B, over two veth pairs); each worker runs in its own
namespace and UTS namespace (``unshare --uts``, host names ``ibp-host-a`` and
``ibp-host-b``). Needs root, ``ip`` and ``unshare``; skipped otherwise. All
traffic stays inside namespaces this test creates and removes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pymysql
import pytest

from iblpipe import dbserver

MADE = re.compile(r"INFO iblpipe\.populate: made (\S+) (.*)$")
WORKER_LINE = re.compile(r"INFO iblpipe\.populate: worker (\S+) pid")
PASSWORD = "two-hosts-test"  # a throwaway account on a throwaway server inside this test's namespaces
HOSTS = {"a": ("10.213.1.1", "10.213.1.2"), "b": ("10.213.2.1", "10.213.2.2")}  # (database side, worker side)


def _sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def _can_use_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if not (shutil.which("ip") and shutil.which("unshare")):
        return "needs iproute2 (ip) and util-linux (unshare)"
    if dbserver.find_mariadbd() is None or dbserver.install_db_binary() is None:
        return "needs mariadb-server"
    probe = f"ibpprobe{os.getpid()}"
    if _sh("ip", "netns", "add", probe, check=False).returncode != 0:
        return "cannot create network namespaces here"
    _sh("ip", "netns", "del", probe, check=False)
    return None


pytestmark = pytest.mark.skipif(_can_use_namespaces() is not None, reason=str(_can_use_namespaces()))


@pytest.fixture(scope="module")
def network():
    """Namespaces db, a, b with veth links db<->a and db<->b; yields their names."""
    tag = str(os.getpid())
    ns = {name: f"ibp{name}{tag}" for name in ("db", "a", "b")}
    try:
        for name in ns.values():
            _sh("ip", "netns", "add", name)
            _sh("ip", "-n", name, "link", "set", "lo", "up")
        for host, (db_ip, worker_ip) in HOSTS.items():
            db_if, worker_if = f"ibd{host}{tag}"[:15], f"ibw{host}{tag}"[:15]
            _sh("ip", "link", "add", db_if, "netns", ns["db"], "type", "veth", "peer", "name", worker_if,
                "netns", ns[host])  # fmt: skip
            _sh("ip", "-n", ns["db"], "addr", "add", f"{db_ip}/30", "dev", db_if)
            _sh("ip", "-n", ns[host], "addr", "add", f"{worker_ip}/30", "dev", worker_if)
            _sh("ip", "-n", ns["db"], "link", "set", db_if, "up")
            _sh("ip", "-n", ns[host], "link", "set", worker_if, "up")
        yield ns
    finally:
        for name in ns.values():
            _sh("ip", "netns", "del", name, check=False)


@pytest.fixture(scope="module")
def db_host(network, tmp_path_factory):
    """MariaDB listening on every address of the db namespace, with a worker account; yields its folder."""
    base = tmp_path_factory.mktemp("db_host")
    datadir, sock, tmpdir = base / "data", base / "sock", base / "tmp"
    tmpdir.mkdir(mode=0o700)  # its own tmpdir: a starting server deletes #sql* files in a shared /tmp
    _sh(dbserver.install_db_binary(), "--no-defaults", f"--datadir={datadir}", f"--tmpdir={tmpdir}",
        "--auth-root-authentication-method=normal", "--skip-test-db", "--user=root")  # fmt: skip
    log = open(base / "mariadbd.log", "w")  # noqa: SIM115  (closed below)
    server = subprocess.Popen(
        ["ip", "netns", "exec", network["db"], dbserver.find_mariadbd(), "--no-defaults", f"--datadir={datadir}",
         f"--socket={sock}", f"--tmpdir={tmpdir}", "--port=3306", "--bind-address=0.0.0.0", "--user=root", "--skip-log-bin",
         "--skip-name-resolve", "--innodb-buffer-pool-size=256M"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # the Unix socket is a file: reachable from here although the TCP port is not
            try:
                conn = pymysql.connect(unix_socket=str(sock), user="root", connect_timeout=1)
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError((base / "mariadbd.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        with conn.cursor() as cur:
            cur.execute("CREATE USER 'worker'@'%%' IDENTIFIED BY %s", (PASSWORD,))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'worker'@'%'")
        conn.close()
        yield base
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def _on_host(network: dict, host: str, args: list[str], lab: Path, log: Path | None = None):
    """``iblpipe ARGS`` on worker host ``host`` (its namespace, its host name)."""
    db_ip = HOSTS[host][0]
    env = dict(
        os.environ,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        DJ_HOST=db_ip,
        DJ_PORT="3306",
        DJ_USER="worker",
        DJ_PASS=PASSWORD,
        IBLPIPE_DATA_ROOT=str(lab),
    )
    inner = " ".join(["exec", "ip", "netns", "exec", network[host], sys.executable, "-m", "iblpipe", *args])
    cmd = ["unshare", "--uts", "--", "sh", "-c", f"hostname ibp-host-{host} && {inner}"]
    if log is None:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    handle = open(log, "w")  # noqa: SIM115  (closed by the caller through proc.log_handle)
    proc = subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    proc.log_handle = handle
    return proc


def test_workers_on_two_hosts_share_one_database(network, db_host, demo_lab, tmp_path):
    prefix = "twohosts_"
    ingest = _on_host(network, "a", ["--prefix", prefix, "ingest", "--source", f"dump:{demo_lab / 'alyx_dump.json'}"],
                      demo_lab)  # fmt: skip
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    dump_sessions = sum(r["model"] == "actions.session" for r in json.loads((demo_lab / "alyx_dump.json").read_text()))
    status = _on_host(network, "b", ["--prefix", prefix, "status", "--json"], demo_lab)  # through host B's own link
    assert status.returncode == 0, status.stderr[-2000:]
    trials = next(t for t in json.loads(status.stdout)["tables"] if t["table"] == "behavior.TrialSet")
    assert trials["todo"] == dump_sessions > 0

    args = ["--prefix", prefix, "populate", "--tables", "behavior.TrialSet,behavior.ReactionTime", "--log-keys",
            "--no-progress"]  # fmt: skip
    logs = {host: tmp_path / f"{host}.log" for host in HOSTS}
    procs = {host: _on_host(network, host, args, demo_lab, logs[host]) for host in HOSTS}
    for host, proc in procs.items():
        code = proc.wait(timeout=600)
        proc.log_handle.close()
        assert code == 0, logs[host].read_text()[-3000:]

    texts = {host: logs[host].read_text() for host in HOSTS}
    assert WORKER_LINE.search(texts["a"]).group(1) == "ibp-host-a"
    assert WORKER_LINE.search(texts["b"]).group(1) == "ibp-host-b"
    made = {host: Counter(m.groups() for line in text.splitlines() if (m := MADE.search(line))) for host, text in
            texts.items()}  # fmt: skip
    assert made["a"] and made["b"], "both hosts made keys"
    assert not set(made["a"]) & set(made["b"]), "no key made on both hosts"
    assert max((made["a"] + made["b"]).values()) == 1
    assert sum(1 for table, _ in (made["a"] + made["b"]) if table == "behavior.TrialSet") == dump_sessions
    assert sum(1 for table, _ in (made["a"] + made["b"]) if table == "behavior.ReactionTime") == dump_sessions
