"""The three sources (dump, Alyx REST through the real ONE client, ONE cache) give the same tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from iblpipe import mirror as M
from iblpipe.schemas import acquisition, subject
from iblpipe.sources.alyx_dump import from_dumpdata
from iblpipe.sources.alyx_rest import read_rest
from iblpipe.sources.one_cache import read_one_cache
from tests.alyx_fixtures import AlyxServer, dump_to_rest, small_dump
from tests.integration.mirror_helpers import ONE_CACHE_COLUMNS, assert_same, contents, reset


def one_cache_sessions(items) -> pd.DataFrame:
    """sessions.pqt as one.alf.cache writes it (SESSIONS_COLUMNS), for the sessions of a dump."""
    by_pk = {it["pk"]: it for it in items}
    rows = []
    for it in items:
        if it["model"] != "actions.session":
            continue
        f = it["fields"]
        rows.append(
            {
                "id": it["pk"],
                "lab": by_pk[f["lab"]]["fields"]["name"],
                "subject": by_pk[f["subject"]]["fields"]["nickname"],
                "date": pd.Timestamp(f["start_time"]).date(),
                "number": f["number"],
                "task_protocol": f["task_protocol"],
                "projects": ",".join(by_pk[p]["fields"]["name"] for p in f["projects"]),
            }
        )
    return pd.DataFrame(rows).set_index("id")


@pytest.fixture(scope="module")
def dump_items():
    return small_dump()


@pytest.fixture(scope="module")
def from_dump(prefix, dump_items):
    reset()
    M.mirror(from_dumpdata(dump_items))
    return contents()


def test_rest_through_one_client_equals_dump(from_dump, dump_items, tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # ONE writes its params under ~/.one
    rest = dump_to_rest(dump_items)
    with AlyxServer(rest) as server:
        snap = read_rest(server.url, username=server.username, password=server.password, cache_dir=tmp_path / "one")
    pages = [r for r in server.requests if r.startswith("/sessions")]
    assert len(pages) == -(-len(rest["sessions"]) // 1000)  # one page per 1000 sessions
    assert not snap.bad
    reset()
    report = M.mirror(snap)
    assert sum(report.inserted.values()) > 0
    assert_same(contents(), from_dump)


def test_rest_paginates_and_needs_the_token(dump_items, tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("iblpipe.sources.alyx_rest.PAGE_SIZE", 5)
    rest = dump_to_rest(dump_items)
    with AlyxServer(rest) as server:
        snap = read_rest(server.url, username=server.username, password=server.password, cache_dir=tmp_path / "one")
        with pytest.raises(M.IblpipeError, match="cannot read Alyx"):
            read_rest(server.url, username=server.username, password="wrong", cache_dir=tmp_path / "one2")
    assert len(snap.records["session"]) == len(rest["sessions"])
    assert sum(r.startswith("/sessions") for r in server.requests) == -(-len(rest["sessions"]) // 5)


def test_one_cache_equals_dump_for_its_columns(from_dump, dump_items, tmp_path):
    one_cache_sessions(dump_items).to_parquet(tmp_path / "sessions.pqt")
    reset()
    snap = read_one_cache(tmp_path)
    assert not snap.bad
    M.mirror(snap)
    assert_same(contents(), from_dump, ONE_CACHE_COLUMNS)
    assert not len(subject.Weighing())  # never provided by a cache


def test_cli_ingest_dump_twice_then_refuses_mass_delete(prefix, dump_items, tmp_path, run_cli):
    reset()
    path = tmp_path / "alyx.json"
    path.write_text(json.dumps(dump_items))
    first = run_cli("ingest", "--prefix", prefix, "--source", f"dump:{path}")
    assert first.returncode == 0, first.stderr
    assert "session 24" in first.stdout and "subject 6" in first.stdout
    second = run_cli("ingest", "--prefix", prefix, "--source", f"dump:{path}")
    assert second.returncode == 0 and "nothing changed" in second.stdout
    weighings = [it["pk"] for it in dump_items if it["model"] == "actions.weighing"][:3]
    path.write_text(json.dumps([it for it in dump_items if it["pk"] not in weighings]))
    dry = run_cli("ingest", "--prefix", prefix, "--source", f"dump:{path}", "--dry-run")
    assert dry.returncode == 0 and "would change" in dry.stdout and "deleted: weighing 3" in dry.stdout
    assert len(subject.Weighing()) == 24
    # every session gone (with their insertions: an insertion still there would hold its session back)
    gone = ("actions.session", "experiments.probeinsertion", "experiments.trajectoryestimate")
    path.write_text(json.dumps([it for it in dump_items if it["model"] not in gone]))
    refused = run_cli("ingest", "--prefix", prefix, "--source", f"dump:{path}")
    assert refused.returncode == 2 and "refusing to delete" in refused.stderr and "session: 24 of 24" in refused.stderr
    assert len(acquisition.Session()) == 24
    bad = run_cli("ingest", "--prefix", prefix, "--source", "ftp:somewhere")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
