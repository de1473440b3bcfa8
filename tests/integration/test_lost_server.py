"""The server lost in the middle of an ingest: one line saying so and what to do, and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pymysql

from iblpipe.schemas import acquisition, subject
from iblpipe.schemas import mirror as book

WAIT_S = 120  # (s) longest the test waits for the ingest to reach its last insert


def test_ingest_losing_the_server_mid_transaction_is_one_line_and_writes_nothing(
    db_server, prefix, demo_lab, repo_root
):
    admin = pymysql.connect(
        host=db_server["host"], port=db_server["port"], user=db_server["user"], password=db_server["password"]
    )
    env = dict(os.environ, PYTHONPATH=str(repo_root), DJ_HOST=str(db_server["host"]), DJ_PORT=str(db_server["port"]))
    env.update(DJ_USER=db_server["user"], DJ_PASS=db_server["password"])
    try:
        with admin.cursor() as cursor:
            # the ingest's last insert (its run record) waits for this lock, inside its transaction
            cursor.execute(f"LOCK TABLES `{prefix}mirror`.`ingest_run` WRITE")
            proc = subprocess.Popen(
                [sys.executable, "-m", "iblpipe", "--prefix", prefix, "ingest", "--source",
                 f"dump:{demo_lab / 'alyx_dump.json'}"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            deadline = time.monotonic() + WAIT_S
            victim = None
            while victim is None and time.monotonic() < deadline and proc.poll() is None:
                cursor.execute(
                    "SELECT id FROM information_schema.processlist WHERE info LIKE %s AND id != CONNECTION_ID()",
                    ("%ingest_run%",),
                )
                row = cursor.fetchone()
                victim = row[0] if row else time.sleep(0.1)
            assert victim is not None, proc.communicate()
            cursor.execute(f"KILL {int(victim)}")  # what a server restart does to the ingest's connection
            cursor.execute("UNLOCK TABLES")
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        admin.close()
    assert proc.returncode == 2, err
    lines = [line for line in err.splitlines() if " ERROR " in line or "Traceback" in line]
    assert len(lines) == 1, err
    assert "iblpipe ingest: lost the database server (" in lines[0] and "run it again" in lines[0]
    assert len(acquisition.Session()) == 0 and len(subject.Subject()) == 0 and len(book.MirroredRecord()) == 0
