"""Worker policy without a database: which failures are transient, how --restrict parses."""

import pymysql
import pytest
from datajoint.errors import DuplicateError, LostConnectionError

from iblpipe.commands._common import parse_restriction
from iblpipe.errors import ConfigError, DatabaseUnavailable, DataError, ServerUnreachable
from iblpipe.populate import TransientFailure, is_transient, retry_transient


@pytest.mark.parametrize(
    "error",
    [
        LostConnectionError("Server connection lost"),
        pymysql.err.OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1'"),
        pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
        pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock"),
        pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"),
        pymysql.err.InterfaceError(0, ""),
        ConnectionResetError("reset by peer"),
        ServerUnreachable("cannot connect to MySQL at 127.0.0.1:1 as 'x' (from environment): connection refused"),
    ],
)
def test_transient_failures_are_recognised(error):
    assert is_transient(error)


def test_transient_failure_found_through_the_cause_chain():
    try:
        try:
            raise pymysql.err.OperationalError(1213, "Deadlock found")
        except pymysql.err.OperationalError as inner:
            raise RuntimeError("insert failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


@pytest.mark.parametrize(
    "error",
    [
        DataError("alf/_ibl_trials.choice: 300 values, expected 301"),
        DuplicateError("Duplicate entry"),
        pymysql.err.OperationalError(1054, "Unknown column 'x'"),
        ValueError("times are not sorted"),
        KeyError("probabilityLeft"),
    ],
)
def test_data_errors_are_not_transient(error):
    assert not is_transient(error)


def test_restriction_parses_and_rejects_bad_input():
    assert parse_restriction(None) == {}
    assert parse_restriction("subject=KS014, lab=cortexlab") == {"subject": "KS014", "lab": "cortexlab"}
    for bad in ("subject", "subject=", "mouse=KS014", "subject=KS014,,"):
        with pytest.raises(ConfigError, match="--restrict"):
            parse_restriction(bad)


def test_stale_timeout_from_option_environment_or_default(monkeypatch):
    from iblpipe import settings
    from iblpipe.operations.populate import stale_timeout
    from iblpipe.populate import DEFAULT_STALE_TIMEOUT_S

    monkeypatch.delenv("IBLPIPE_STALE_TIMEOUT", raising=False)
    assert stale_timeout(None) == DEFAULT_STALE_TIMEOUT_S
    assert settings.stale_timeout() is None  # unset: the worker's default
    monkeypatch.setenv("IBLPIPE_STALE_TIMEOUT", "90")
    assert stale_timeout(None) == 90.0 and stale_timeout(5.0) == 5.0
    assert settings.stale_timeout() == 90.0 and settings.stale_timeout(5.0) == 5.0
    monkeypatch.setenv("IBLPIPE_STALE_TIMEOUT", "an hour")
    with pytest.raises(ConfigError, match="IBLPIPE_STALE_TIMEOUT='an hour'"):
        stale_timeout(None)


def test_messages_are_judged_by_their_codes():
    assert is_transient("OperationalError: (2013, 'Lost connection to MySQL server during query')")
    assert is_transient("LostConnectionError: Server connection lost")
    assert not is_transient("DataError: alf/_ibl_trials.choice: 300 values, expected 301")


def test_retry_transient_retries_then_gives_up_with_the_last_message():
    calls, waits = [], []

    def flaky(retry):
        calls.append(retry)
        if len(calls) < 3:
            raise pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")
        return "made"

    assert retry_transient(flaky, what="k", sleep=waits.append, reconnect=False) == "made"
    assert calls == [False, True, True] and waits == [1, 2]

    def down(retry):
        raise ServerUnreachable("cannot connect to MySQL at h:1: connection refused or timed out")

    with pytest.raises(TransientFailure, match=r"^startup kept failing transiently for 0 s \(ServerUnreachable: "):
        retry_transient(down, what="startup", budget=0, sleep=waits.append, reconnect=False)


def test_retry_transient_does_not_retry_a_refused_login():
    calls = []

    def denied(retry):
        calls.append(retry)
        raise DatabaseUnavailable("cannot connect to MySQL at h:1 as 'x': Access denied")

    with pytest.raises(DatabaseUnavailable):
        retry_transient(denied, what="startup", sleep=lambda s: None, reconnect=False)
    assert calls == [False]


def test_before_pass_runs_on_every_pass_and_fails_only_the_first():
    """populate's follow_new_sortings hook: every pass of a looping worker runs it (issue 14)."""
    from iblpipe.populate import Worker

    calls = []

    def hook():
        calls.append(len(calls))
        if len(calls) == 2:
            raise DataError("datasets.pqt: unreadable")
        if len(calls) == 3:
            worker.stop()

    worker = Worker([], before_pass=hook)
    report = worker.run(loop=True, sleep=0)
    assert calls == [0, 1, 2] and report.stopped
    assert report.errors == [("before the pass", {}, "DataError: datasets.pqt: unreadable")] and not report.ok

    def broken():
        raise DataError("datasets.pqt: unreadable")

    with pytest.raises(DataError, match="unreadable"):  # the first pass: before any work, as at startup
        Worker([], before_pass=broken).run()
