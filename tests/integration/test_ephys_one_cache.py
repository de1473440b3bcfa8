"""Ephys from a data root that is a ONE cache: ``datasets.pqt`` decides, as for IBL's loader (issue 14).

The cache disagrees with the disk: a sorter folder on disk it does not list, a newer revision on
disk that is not the default. ``SpikeSortingLoader`` on ``One(cache_dir=root, mode='local')`` (the
same tables) is the oracle. Also: a looping ``populate`` worker follows a revision that appears
while it runs, on its next pass.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import types
import uuid
from pathlib import Path

import pytest
from iblatlas.regions import BrainRegions
from iblutil.io import parquet

from iblpipe.schemas import acquisition, ephys, files, reference, subject
from iblpipe.sources import ids
from iblpipe.sources.ephys import probe_path
from tests.ephys_data import write_probe

LAB, NICK = "cachelab", "CCH001"
CACHED = ("2024-03-01", 1, "probe00")  # pykilosort listed; iblsorter on disk only; a non-default revision
LOOPED = ("2024-03-01", 1, "probe01")  # alf/probe01; a revision arrives while a looping worker runs
NEWER = "2024-06-01"  # revision of CACHED's pykilosort on disk, not the cache's default at first
ARRIVING = "2024-07-01"  # revision of LOOPED written during the loop test
WAIT_S = 300  # (s) longest the loop test waits for the worker to reach a state (never a timing assertion)
REAL = {"channels": "aligned", "cluster_regions": False}


def _pid(insertion) -> uuid.UUID:
    return ids.name_uuid("probe", LAB, NICK, *insertion)


def _key(insertion) -> dict:
    return {"probe_insertion_uuid": _pid(insertion), "sorting_params": ephys.DEFAULT_SORTING}


def _folder(root, insertion) -> Path:
    return probe_path(root, LAB, NICK, *insertion)


def write_cache(root: Path, defaults: dict[str, str]) -> None:
    """ONE cache tables of ``root``: what ``make_parquet_db`` finds, minus iblsorter folders, with default revisions.

    ``defaults``: collection -> its default revision (others: the latest). Written atomically (a looping
    worker may read the tables at any moment).
    """
    from one.alf.cache import make_parquet_db

    tables = root.with_name(root.name + "_tables")
    tables.mkdir(exist_ok=True)
    make_parquet_db(root, out_dir=tables)
    frame, meta = parquet.load(tables / "datasets.pqt")
    frame = frame[~frame["rel_path"].str.contains("/iblsorter/")].copy()
    collection = frame["rel_path"].str.replace(r"/(#[^#]+#/)?[^/]+$", "", regex=True)
    revision = frame["rel_path"].str.extract(r"#([^#]+)#/", expand=False).fillna("")
    unrevised = frame["rel_path"].str.replace(r"#[^#]+#/", "", regex=True)
    latest = revision.groupby(unrevised.to_numpy()).transform("max")
    wanted = collection.map(defaults).fillna(latest)
    frame["default_revision"] = (revision == wanted).to_numpy()
    for name, table in (("sessions.pqt", parquet.load(tables / "sessions.pqt")), ("datasets.pqt", (frame, meta))):
        parquet.save(tables / f"tmp_{name}", *table)
        os.replace(tables / f"tmp_{name}", root / name)


@pytest.fixture(scope="module")
def lab(prefix, tmp_path_factory):
    root = tmp_path_factory.mktemp("one_cache")
    saved = os.environ.get("IBLPIPE_DATA_ROOT")
    os.environ["IBLPIPE_DATA_ROOT"] = str(root)
    reference.Lab.insert1({"lab_name": LAB})
    sub = {"subject_uuid": ids.subject_uuid(LAB, NICK), "subject_nickname": NICK}
    subject.Subject.insert1(sub)
    date, number, _ = CACHED
    session = {"session_uuid": ids.session_uuid(LAB, NICK, date, number)}
    acquisition.Session.insert1(
        dict(
            session,
            subject_uuid=sub["subject_uuid"],
            session_lab=LAB,
            session_start_time=dt.datetime.fromisoformat(date) + dt.timedelta(hours=10),
            session_number=number,
        )
    )
    for insertion in (CACHED, LOOPED):
        ephys.ProbeInsertion.insert1(dict(session, probe_insertion_uuid=_pid(insertion), probe_name=insertion[2]))
    write_probe(_folder(root, CACHED) / "pykilosort", seed=20, n_clusters=9, **REAL)
    write_probe(_folder(root, CACHED) / "iblsorter", seed=21, n_clusters=10, **REAL)
    write_probe(_folder(root, CACHED) / "pykilosort" / f"#{NEWER}#", seed=22, n_clusters=13, **REAL)
    write_probe(_folder(root, LOOPED), seed=23, n_clusters=8, **REAL)
    write_cache(root, {f"alf/{CACHED[2]}/pykilosort": ""})
    result = ephys.Clusters.populate(suppress_errors=True)
    assert result["error_list"] == []
    yield root
    if saved is None:
        os.environ.pop("IBLPIPE_DATA_ROOT", None)
    else:
        os.environ["IBLPIPE_DATA_ROOT"] = saved


def _ibl_units(root: Path, insertion) -> tuple[dict, str, set]:
    """IBL's merged clusters on the cache as it stands, the collection chosen and the revisions read."""
    from brainbox.io.one import SpikeSortingLoader
    from one.api import One

    one = One(cache_dir=root, mode="local")
    session = _folder(root, insertion).parent.parent
    atlas = types.SimpleNamespace(regions=BrainRegions())  # acronyms without building (downloading) a volume
    ssl = SpikeSortingLoader(one=one, eid=one.to_eid(session), pname=insertion[2], atlas=atlas)
    spikes, clusters, channels = ssl.load_spike_sorting()
    merged = ssl.merge_clusters(spikes, clusters, channels)
    return merged, ssl.collection, {f.revision or "" for f in ssl.files["spikes"] + ssl.files["clusters"]}


def _assert_equal_to_ibl(root: Path, insertion) -> dict:
    merged, collection, revisions = _ibl_units(root, insertion)
    row = (ephys.Clusters & _key(insertion)).fetch1()
    assert row["collection"] == collection and {row["revision"]} == revisions
    units = (ephys.Clusters.Cluster & _key(insertion)).to_pandas(order_by="cluster_id")
    assert len(units) == row["n_clusters"] == merged["channels"].size
    assert (units["brain_region_id"].to_numpy() == merged["atlas_id"]).all()
    assert (units["channel"].to_numpy() == merged["channels"]).all()
    return row


def test_clusters_follow_datasets_pqt_like_spike_sorting_loader(prefix, lab):
    row = _assert_equal_to_ibl(lab, CACHED)
    # iblsorter is on disk but not in the cache; NEWER is on disk but not the default
    assert (row["collection"], row["revision"], row["n_clusters"]) == ("alf/probe00/pykilosort", "", 9)


def test_new_default_revision_in_the_cache_replaces_old_rows(prefix, lab):
    default = {"sorting_params": ephys.DEFAULT_SORTING}
    assert files.stale_sortings(default) == []  # a revision on disk only is not followed
    write_cache(lab, {})  # the cache now names the latest revision the default, as Alyx does after a re-run
    key = _key(CACHED)
    assert files.stale_sortings(default) == [(key, "alf/probe00/pykilosort##", f"alf/probe00/pykilosort#{NEWER}#")]
    assert files.follow_new_sortings(default) == [key]
    ephys.Clusters.populate(key)
    row = _assert_equal_to_ibl(lab, CACHED)
    assert (row["revision"], row["n_clusters"]) == (NEWER, 13)


def _worker(prefix: str, db_server, root: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]), IBLPIPE_DATA_ROOT=str(root))
    env.update(DJ_HOST=str(db_server["host"]), DJ_PORT=str(db_server["port"]))
    env.update(DJ_USER=db_server["user"], DJ_PASS=db_server["password"])
    argv = [sys.executable, "-m", "iblpipe", "--prefix", prefix, "populate", "--no-progress"]
    argv += ["--tables", "ephys.Clusters", "--loop", "--sleep", "1"]
    return subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


def _wait_for(what: str, check, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"worker never reached: {what} (exit {proc.poll()}); log:\n{log.read_text()}")
        time.sleep(0.2)


def test_looping_worker_follows_a_new_revision_on_its_next_pass(prefix, lab, db_server, tmp_path):
    key = _key(LOOPED)
    assert (ephys.Clusters & key).fetch1("revision") == ""
    log = tmp_path / "worker.log"
    proc = _worker(prefix, db_server, lab, log)
    _wait_for("the end of its first pass", lambda: "pass done" in log.read_text(), proc, log)
    write_probe(_folder(lab, LOOPED) / f"#{ARRIVING}#", seed=24, n_clusters=14, **REAL)
    write_cache(lab, {})  # as after ONE downloads the re-run: listed and the default

    def followed() -> bool:
        rows = (ephys.Clusters & key).to_dicts()
        return bool(rows) and rows[0]["revision"] == ARRIVING

    _wait_for(f"Clusters of {LOOPED[2]} at revision {ARRIVING}", followed, proc, log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=WAIT_S) == 0, log.read_text()
    text = log.read_text()
    assert f"alf/probe01## replaced by alf/probe01#{ARRIVING}#" in text
    row = _assert_equal_to_ibl(lab, LOOPED)
    assert row["n_clusters"] == 14
    assert (ephys.Clusters & _key(CACHED)).fetch1("revision") == NEWER  # the other insertion untouched
