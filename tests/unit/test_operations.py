"""The operations layer's types: worker options reach other processes unchanged; settings overrides stay scoped."""

import os
import shlex

import pytest

from iblpipe import settings
from iblpipe.cli import build_parser
from iblpipe.commands._common import worker_options
from iblpipe.errors import ConfigError
from iblpipe.operations import WorkerOptions, worker_argv

EXAMPLES = [
    WorkerOptions(),
    WorkerOptions(tables=("behavior", "ephys.Clusters"), restrict={"subject": "KS014", "lab": "cortexlab"}),
    WorkerOptions(max_calls=5, stale_timeout=120.0, retry_budget=30.0, log_keys=True),
    WorkerOptions(loop=True, sleep=5.0, duration=600.0),
]


@pytest.mark.parametrize("options", EXAMPLES)
def test_worker_options_survive_the_command_line_of_a_worker_process(options):
    """What ``populate --processes`` and a Slurm task run parses back into the very same options."""
    argv = worker_argv(options, prefix="lab_", log_flags=("-v",), python="python")
    assert argv[:6] == ["python", "-m", "iblpipe", "--prefix", "lab_", "-v"]
    args = build_parser().parse_args(argv[3:])
    assert args.command == "populate" and args.prefix == "lab_" and args.verbose == 1
    assert worker_options(args) == options, shlex.join(argv)


def test_the_round_trip_examples_set_every_field():
    """Each WorkerOptions field is set to a non-default value by some example, so the round trip covers it."""
    import dataclasses

    default = WorkerOptions()
    for f in dataclasses.fields(WorkerOptions):
        assert any(getattr(o, f.name) != getattr(default, f.name) for o in EXAMPLES), f.name


def test_every_worker_option_has_a_populate_flag():
    """A new WorkerOptions field without its flag in add_worker_options (or populate's) fails here."""
    import dataclasses

    flags = {
        s for a in build_parser()._subparsers._group_actions[0].choices["populate"]._actions for s in a.option_strings
    }
    for f in dataclasses.fields(WorkerOptions):
        assert "--" + f.name.replace("_", "-") in flags, f.name


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"retry_budget": -1.0}, "--retry-budget"),
        ({"duration": 10.0}, "--duration goes with --loop"),
        ({"loop": True, "sleep": -1.0}, "--sleep must be >= 0"),
        ({"max_calls": 0}, "--max-calls 0"),
    ],
)
def test_bad_worker_options_are_one_line_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        WorkerOptions(**changes)


def test_settings_override_is_scoped_and_reaches_child_processes(monkeypatch, tmp_path):
    monkeypatch.setenv("IBLPIPE_DATA_ROOT", str(tmp_path / "env"))
    with settings.override(data_root=tmp_path / "demo"):
        assert settings.data_root() == (tmp_path / "demo").resolve()
        assert settings.child_environment()["IBLPIPE_DATA_ROOT"] == str(tmp_path / "demo")
        assert os.environ["IBLPIPE_DATA_ROOT"] == str(tmp_path / "env")  # this process's environment untouched
    assert settings.data_root() == (tmp_path / "env").resolve()
    with pytest.raises(TypeError, match="unknown settings home"):
        with settings.override(home=tmp_path):
            pass
