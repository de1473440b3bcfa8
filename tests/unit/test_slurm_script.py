"""The Slurm job script and option checks, without a cluster."""

from pathlib import Path

import pytest

from iblpipe.errors import ConfigError
from iblpipe.operations import WorkerOptions
from iblpipe.slurm import ArraySpec, job_script


def test_job_script_runs_one_worker_per_task_and_holds_no_credentials(monkeypatch):
    monkeypatch.setenv("DJ_PASS", "s3cret-password")
    worker = WorkerOptions(
        tables=("behavior",), restrict={"subject": "KS014"}, stale_timeout=7200.0, loop=True, sleep=30.0
    )
    spec = ArraySpec(workers=3, worker=worker, prefix="lab_", partition="short", log_dir=Path("/shared/logs"))
    script = job_script(spec, python="/opt/venv/bin/python")
    assert script.startswith("#!/bin/bash\n")
    for line in (
        "#SBATCH --array=0-2",
        "#SBATCH --partition=short",
        "#SBATCH --output=/shared/logs/populate-%A_%a.log",
        "#SBATCH --export=ALL",
        "exec /opt/venv/bin/python -m iblpipe --prefix lab_ populate --processes 1 --no-progress --tables behavior "
        "--restrict subject=KS014 --stale-timeout 7200.0 --log-keys --loop --sleep 30.0",
    ):
        assert line in script.splitlines()
    assert "s3cret" not in script and "DJ_" not in script


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ArraySpec(workers=0), "--workers 0: must be at least 1"),
        (ArraySpec(time="soon"), "--time 'soon'"),
        (ArraySpec(mem="lots"), "--mem 'lots'"),
    ],
)
def test_bad_options_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        spec.check()


@pytest.mark.parametrize("value", ["30", "1:00:00", "2-00:00:00", "04:00:00", "10:30"])
def test_slurm_time_formats_are_accepted(value):
    ArraySpec(time=value).check()
