"""Populate as a Slurm job array on a real one-node Slurm (tests/slurm_cluster.py): same tables as a local
worker, nothing half-written after scancel or a time limit, status names the job, bad input is one line.

Skipped, with the reason, where Slurm cannot be started (not root, no apt-get, a daemon that fails).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from iblpipe import schemas
from tests import slurm_cluster
from tests.integration.conftest import module_prefix
from tests.integration.test_workers import cli, made_keys, mouse_of_insertions, table_contents, worker_env

ARRAY_TIMEOUT_S = 900  # (s) longest a test waits for an array to finish


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        running = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    except slurm_cluster.SlurmUnavailable as exc:
        pytest.skip(f"Slurm cannot run here: {exc}")
    yield running
    slurm_cluster.stop(running)


@pytest.fixture(scope="module")
def env(cluster, db_server, demo_lab, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("slurm_home")
    return worker_env(db_server, demo_lab, IBLPIPE_HOME=home, SLURM_CONF=cluster.env["SLURM_CONF"])


@pytest.fixture(scope="module")
def reference(env, demo_lab) -> str:
    """The demo lab mirrored and populated by one local worker: what every array must equal."""
    prefix = module_prefix(__name__) + "ref_"
    schemas.drop(prefix)
    assert cli(prefix, env, "ingest", "--source", f"dump:{demo_lab / 'alyx_dump.json'}").returncode == 0
    out = cli(prefix, env, "populate")
    assert out.returncode == 0, out.stderr[-3000:]
    yield prefix
    schemas.drop(prefix)


@pytest.fixture
def fresh(env, demo_lab, request):
    """A mirrored, unpopulated prefix of this test."""
    prefix = module_prefix(__name__) + re.sub(r"\W", "", request.node.name.removeprefix("test_"))[:12] + "_"
    schemas.drop(prefix)
    assert cli(prefix, env, "ingest", "--source", f"dump:{demo_lab / 'alyx_dump.json'}").returncode == 0
    yield prefix
    schemas.drop(prefix)


def slurm(env: dict, *argv: str) -> str:
    return subprocess.run(list(argv), env=env, capture_output=True, text=True, check=True).stdout


def job_of(out: str) -> str:
    m = re.search(r"submitted Slurm job array (\d+)", out)
    assert m, out
    return m.group(1)


def task_logs(env: dict, job: str) -> list[Path]:
    return sorted((Path(env["IBLPIPE_HOME"]) / "slurm" / "logs").glob(f"populate-{job}_*.log"))


def wait_gone(env: dict, job: str) -> None:
    deadline = time.monotonic() + ARRAY_TIMEOUT_S
    while slurm(env, "squeue", "-h", "-j", job, "-o", "%i").strip():
        assert time.monotonic() < deadline, f"array {job} still queued after {ARRAY_TIMEOUT_S} s"
        time.sleep(1)


def task_states(env: dict, job: str) -> list[str]:
    return re.findall(r"\bJobState=(\S+)", slurm(env, "scontrol", "-o", "show", "job", job))


def test_a_three_task_array_makes_what_one_local_worker_makes(env, reference, fresh):
    mouse = mouse_of_insertions(reference)
    out = cli(
        fresh, env, "slurm", "submit", "--workers", "3", "--time", "30", "--wait", "--restrict", f"subject={mouse}"
    )
    assert out.returncode == 0, out.stderr[-3000:]
    job = job_of(out.stdout)
    assert task_states(env, job) == ["COMPLETED"] * 3
    logs = task_logs(env, job)
    assert len(logs) == 3
    made = made_keys(*logs)
    assert made and max(made.values()) == 1  # no key made twice across the tasks
    local = cli(fresh, env, "populate", "--tables", "all")  # everything else (other mice) locally
    assert local.returncode == 0, local.stderr[-3000:]
    assert table_contents(fresh) == table_contents(reference)

    script = next((Path(env["IBLPIPE_HOME"]) / "slurm").glob("populate-*.sh")).read_text()
    assert "#SBATCH --array=0-2" in script and f"--restrict subject={mouse}" in script
    shown = slurm(env, "scontrol", "show", "job", job) + slurm(env, "squeue", "-h", "-o", "%all")
    for secret in (env["DJ_PASS"],):
        assert secret not in script and secret not in shown


def _cancel_mid_run(env: dict, prefix: str, *extra: str) -> tuple[str, list[dict]]:
    """Submit one worker over the whole lab; once it has made keys, return its job and the reservations seen."""
    out = cli(prefix, env, "slurm", "submit", "--workers", "1", *extra)
    assert out.returncode == 0, out.stderr[-3000:]
    job = job_of(out.stdout)
    deadline = time.monotonic() + ARRAY_TIMEOUT_S
    tagged = []
    while time.monotonic() < deadline:
        logs = task_logs(env, job)
        if logs and len(made_keys(*logs)) >= 3:
            status = json.loads(cli(prefix, env, "status", "--json").stdout)
            tagged = [r for t in status["tables"] for r in t["reservations"] if r.get("slurm_job")]
            if tagged:
                break
        time.sleep(0.5)
    return job, tagged


def _finish_and_compare(env: dict, prefix: str, reference: str) -> None:
    status = json.loads(cli(prefix, env, "status", "--json").stdout)
    assert sum(t["errors"] for t in status["tables"]) == 0
    again = cli(prefix, env, "populate", "--stale-timeout", "1")  # a key killed mid-make is redone
    assert again.returncode == 0, again.stderr[-3000:]
    assert table_contents(prefix) == table_contents(reference)


def test_scancel_mid_make_leaves_nothing_half_written_and_status_names_the_job(env, reference, fresh):
    job, tagged = _cancel_mid_run(env, fresh, "--time", "30")
    assert tagged, "no reservation was ever shown with its Slurm job"
    assert {r["slurm_job"] for r in tagged} == {f"{job}_0"}
    subprocess.run(["scancel", job], env=env, check=True)
    wait_gone(env, job)
    log = task_logs(env, job)[0].read_text()
    assert "stop requested: finishing the current key" in log
    assert task_states(env, job) == ["CANCELLED"]
    _finish_and_compare(env, fresh, reference)


def test_a_task_at_its_time_limit_leaves_nothing_half_written(env, reference, fresh):
    # a long-running worker (--loop) ends only at its one-minute time limit
    out = cli(fresh, env, "slurm", "submit", "--workers", "1", "--time", "1", "--loop", "--sleep", "5")
    assert out.returncode == 0, out.stderr[-3000:]
    job = job_of(out.stdout)
    wait_gone(env, job)
    assert task_states(env, job) == ["TIMEOUT"]
    assert len(made_keys(*task_logs(env, job))) > 0
    _finish_and_compare(env, fresh, reference)


def test_bad_input_is_one_line_and_submits_nothing(env, tmp_path):
    prefix = module_prefix(__name__) + "bad_"
    no_slurm = dict(env, PATH=str(tmp_path))
    for args, run_env, text in (
        (("--workers", "0"), env, "--workers 0: must be at least 1"),
        (("--partition", "nope"), env, "--partition 'nope': unknown; this cluster has local, remote"),
        (("--partition", "remote"), env, "a loopback address the nodes of partition 'remote' (farnode) cannot reach"),
        (("--time", "soon"), env, "--time 'soon'"),
        ((), no_slurm, "sbatch not found on PATH"),
    ):
        out = cli(prefix, run_env, "slurm", "submit", *args)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and text in lines[0], out.stderr
    dry = cli(prefix, env, "slurm", "submit", "--workers", "3", "--dry-run", "--account=lab")
    assert dry.returncode == 0, dry.stderr
    assert "#SBATCH --array=0-2" in dry.stdout and "sbatch --parsable --account=lab" in dry.stdout
    assert env["DJ_PASS"] not in dry.stdout
    assert slurm(env, "squeue", "-h").strip() == ""


def test_nightly_hands_its_populate_to_slurm_and_waits(env, reference, demo_lab):
    prefix = module_prefix(__name__) + "nightly_"
    schemas.drop(prefix)
    try:
        mouse = mouse_of_insertions(reference)
        out = cli(
            prefix, env, "nightly", "--slurm", "--workers", "2", "--time", "30", "--skip-plot",
            "--source", f"dump:{demo_lab / 'alyx_dump.json'}", "--restrict", f"subject={mouse}",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-3000:]
        job = job_of(out.stdout)
        assert task_states(env, job) == ["COMPLETED"] * 2
        assert f"Slurm array {job} done: 2 tasks, 0 failed" in out.stderr
        local = cli(prefix, env, "populate")
        assert local.returncode == 0, local.stderr[-3000:]
        assert table_contents(prefix) == table_contents(reference)
    finally:
        schemas.drop(prefix)
