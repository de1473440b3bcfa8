"""`iblpipe db migrate` on a database whose ``Clusters.Cluster.depth`` is NOT NULL (issue 14 before phylib's NaN).

The tables are declared by DataJoint from the earlier definition; a unit without spikes (NaN in
clusters.depths) is then refused with a DataError naming the folder and unit, activation names the
migration, and the migration ALTERs the column in place: rows kept, idempotent, and the probe imports.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest

from iblpipe import schemas
from iblpipe.errors import ConfigError
from iblpipe.schemas import acquisition, ephys, reference, subject
from iblpipe.sources import ids
from iblpipe.sources.ephys import probe_path
from tests.ephys_data import write_probe

LAB, NICK, DATE = "mignul", "MGN001", "2024-03-06"
N_UNITS = 7  # clusters of each probe written
OLD_DEPTH = (
    "depth = null : float32              # (um) along the probe, from the tip; null for a unit without spikes (phylib)"
)
NEW_DEPTH = "depth : float32                     # (um) along the probe, from the tip"


def _pid(probe: str) -> dict:
    return {"probe_insertion_uuid": ids.name_uuid("probe", LAB, NICK, DATE, probe)}


@pytest.fixture(scope="module")
def old_db(db_server, tmp_path_factory):
    prefix = f"t_mignul_{os.getpid()}_"
    schemas.drop(prefix)
    assert OLD_DEPTH in ephys.Clusters.Cluster.definition  # the test edits the current definition back
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            ephys.Clusters.Cluster, "definition", ephys.Clusters.Cluster.definition.replace(OLD_DEPTH, NEW_DEPTH)
        )
        names = schemas.activate(prefix)  # declared by DataJoint from the earlier definition
    reference.Lab.insert1({"lab_name": LAB})
    sub = ids.subject_uuid(LAB, NICK)
    subject.Subject.insert1({"subject_uuid": sub, "subject_nickname": NICK})
    session = ids.session_uuid(LAB, NICK, DATE, 1)
    start = dt.datetime.fromisoformat(DATE) + dt.timedelta(hours=10)
    acquisition.Session.insert1(
        {"session_uuid": session, "subject_uuid": sub, "session_lab": LAB, "session_start_time": start}
    )
    for probe in ("probe00", "probe01"):
        ephys.ProbeInsertion.insert1(dict(_pid(probe), session_uuid=session, probe_name=probe))
    root = tmp_path_factory.mktemp("alf")
    real = {"channels": "aligned", "cluster_regions": False}
    write_probe(probe_path(root, LAB, NICK, DATE, 1, "probe00"), seed=40, n_clusters=N_UNITS, **real)
    silent = write_probe(
        probe_path(root, LAB, NICK, DATE, 1, "probe01"), seed=41, n_clusters=N_UNITS, silent_unit=True, **real
    )
    yield {"prefix": prefix, "names": names, "root": root, "silent": silent}
    schemas.drop(prefix)


def _column(conn, database: str) -> tuple:
    return conn.query(
        "SELECT is_nullable, column_comment FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = '_clusters__cluster' AND column_name = 'depth'",
        args=(database,),
    ).fetchone()


def test_not_null_depth_refuses_a_unit_without_spikes_by_name_then_migrates(old_db, run_cli, monkeypatch):
    prefix, ephys_db = old_db["prefix"], old_db["names"]["ephys"]
    conn = acquisition.Session.connection
    assert _column(conn, ephys_db)[0] == "NO"
    monkeypatch.setenv("IBLPIPE_DATA_ROOT", str(old_db["root"]))
    result = ephys.Clusters.populate(suppress_errors=True)
    assert len(ephys.Clusters.Cluster & _pid("probe00")) == N_UNITS
    ((key, message),) = result["error_list"]
    assert key["probe_insertion_uuid"] == _pid("probe01")["probe_insertion_uuid"]
    assert message.startswith("DataError") and str(old_db["silent"]) in message
    assert f"units [{N_UNITS - 1}] (1 in all) have no depth" in message
    with pytest.raises(ConfigError, match=r"_clusters__cluster\.depth \(NOT NULL\).*iblpipe db migrate"):
        schemas.activate(prefix)

    dry = run_cli("db", "migrate", "--dry-run", "--prefix", prefix)
    assert dry.returncode == 0, dry.stderr
    assert f"would alter {ephys_db}._clusters__cluster.depth to allow NULL" in dry.stdout
    assert "0 table(s) to rename, 0 to rebuild, 1 column(s) to alter" in dry.stdout
    assert _column(conn, ephys_db)[0] == "NO"  # a dry run changes nothing
    comment = _column(conn, ephys_db)[1]
    out = run_cli("db", "migrate", "--prefix", prefix)
    assert out.returncode == 0, out.stderr
    assert f"altered {ephys_db}._clusters__cluster.depth -> NULL allowed" in out.stdout
    assert _column(conn, ephys_db) == ("YES", comment)  # the comment is kept
    assert len(ephys.Clusters.Cluster & _pid("probe00")) == N_UNITS  # rows kept
    again = run_cli("db", "migrate", "--prefix", prefix)
    assert again.returncode == 0 and "nothing to migrate" in again.stdout

    # a new process (fresh DataJoint headings) imports the probe with its unit without spikes
    done = run_cli("--prefix", prefix, "populate", "--tables", "ephys.Clusters", "--no-progress")
    assert done.returncode == 0, done.stderr
    units = (ephys.Clusters.Cluster & _pid("probe01")).to_pandas(order_by="cluster_id")
    depths = np.load(old_db["silent"] / "clusters.depths.npy")
    assert len(units) == N_UNITS and units["depth"].isna().to_numpy().tolist() == np.isnan(depths).tolist()
    assert np.allclose(units["depth"].astype(float)[:-1], depths[:-1], rtol=1e-5)
