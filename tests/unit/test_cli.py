"""Command-line behaviour that needs no database."""

import pytest

from iblpipe import cli


def subcommand_paths(parser, prefix=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from subcommand_paths(sub, (*prefix, name))


def test_every_command_has_help(capsys):
    paths = list(subcommand_paths(cli.build_parser()))
    assert {p[0] for p in paths} >= {"db", "demo", "ingest", "populate", "plot", "status"}
    for path in paths:
        with pytest.raises(SystemExit) as exc:
            cli.main([*path, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: iblpipe " + " ".join(path))


def test_bad_prefix_is_rejected():
    from iblpipe import settings
    from iblpipe.errors import ConfigError

    with pytest.raises(ConfigError, match="prefix"):
        settings.schema_prefix("bad-prefix;drop")
    assert settings.schema_prefix("lab_") == "lab_"


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_demo_run_refuses_a_configured_server_without_a_prefix(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DJ_HOST", "db.example.invalid")
    monkeypatch.setenv("DJ_PORT", "3306")
    monkeypatch.delenv("IBLPIPE_SCHEMA_PREFIX", raising=False)
    assert cli.main(["demo", "run", "--out", str(tmp_path / "lab")]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "iblpipe_* schemas of db.example.invalid:3306" in err[0] and "--prefix" in err[0]
    assert not (tmp_path / "lab").exists()  # refused before generating anything
