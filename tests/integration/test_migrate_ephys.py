"""`iblpipe db migrate` on a database whose ``ephys.Clusters`` is keyed by insertion only (before issue 14).

Those rows cannot say which spike sorting they hold: Clusters and every table below it are
dropped, the next populate imports them again under the default SortingParams, and nothing
else (behaviour rows, insertions, rules) is touched.
"""

from __future__ import annotations

import datetime as dt
import os

import datajoint as dj
import pytest

from iblpipe import schemas
from iblpipe.errors import ConfigError
from iblpipe.schemas import acquisition, behavior, ephys, reference, subject
from iblpipe.sources import ids
from iblpipe.sources.ephys import probe_path
from tests.ephys_data import write_probe

LAB, NICK, DATE = "migeph", "MGE001", "2024-03-05"
N_UNITS = 7  # clusters of the probe written for the re-import
OLD_CLUSTERS = """
# clusters of an insertion, from alf/<probe>/spikes.* and clusters.*
-> ProbeInsertion
---
n_clusters : int32              # (count) clusters of the sorting
n_spikes : int64                # (count) spikes of all clusters
recording_duration : float64    # (s) last minus first spike time of the probe
has_regions : bool              # some cluster has a brain region
"""
OLD_CLUSTER = """
# one unit
-> master
cluster_id : int32                  # (index) row of the clusters.* arrays
---
amp_median : float32                # (V) geometric median of spikes.amps
-> [nullable] reference.BrainRegion
"""


def _old_ephys(database: str, conn) -> dict:
    """The ephys tables as the code before issue 14 declared them (Clusters keyed by insertion only)."""
    ctx = {"acquisition": acquisition, "reference": reference}
    old = dj.Schema(database, context=ctx, connection=conn)

    class ProbeInsertion(dj.Manual):
        definition = ephys.ProbeInsertion.definition

    ctx["ProbeInsertion"] = old(ProbeInsertion)

    class Clusters(dj.Imported):
        definition = OLD_CLUSTERS

        class Cluster(dj.Part):
            definition = OLD_CLUSTER

        def make(self, key):
            raise NotImplementedError

    ctx["Clusters"] = old(Clusters)

    class GoodUnitRule(dj.Lookup):
        definition = ephys.GoodUnitRule.definition
        contents = ephys.GoodUnitRule.contents

    ctx["GoodUnitRule"] = old(GoodUnitRule)

    class UnitQuality(dj.Computed):
        definition = ephys.UnitQuality.definition

        class Unit(dj.Part):
            definition = ephys.UnitQuality.Unit.definition

        def make(self, key):
            raise NotImplementedError

    ctx["UnitQuality"] = old(UnitQuality)
    return ctx


@pytest.fixture(scope="module")
def old_db(db_server, tmp_path_factory):
    prefix = f"t_migeph_{os.getpid()}_"
    schemas.drop(prefix)
    names = schemas.schema_names(prefix)
    from iblpipe.connection import connect

    conn = connect()
    for mod in (reference, subject, acquisition, behavior):
        target = names[mod.__name__.rsplit(".", 1)[1]]
        if mod.schema.database not in (None, target):
            mod.schema.database = None
        mod.schema.activate(target, connection=conn)
    old = _old_ephys(names["ephys"], conn)
    reference.Lab.insert1({"lab_name": LAB})
    sub = ids.subject_uuid(LAB, NICK)
    subject.Subject.insert1({"subject_uuid": sub, "subject_nickname": NICK})
    session = {"session_uuid": ids.session_uuid(LAB, NICK, DATE, 1)}
    start = dt.datetime.fromisoformat(DATE) + dt.timedelta(hours=10)
    acquisition.Session.insert1(dict(session, subject_uuid=sub, session_lab=LAB, session_start_time=start))
    behavior.TrialSet.insert1(
        dict(session, n_trials=40, n_correct=20, n_no_go=1, trials_duration=240.0), allow_direct_insert=True
    )
    pid = {"probe_insertion_uuid": ids.name_uuid("probe", LAB, NICK, DATE, "probe00")}
    old["ProbeInsertion"].insert1(dict(pid, session_uuid=session["session_uuid"], probe_name="probe00"))
    old["Clusters"].insert1(
        dict(pid, n_clusters=2, n_spikes=10, recording_duration=5.0, has_regions=0), allow_direct_insert=True
    )
    old["Clusters"].Cluster.insert(
        [dict(pid, cluster_id=i, amp_median=1e-4) for i in range(2)], allow_direct_insert=True
    )
    old["UnitQuality"].insert1(dict(pid, rule_name="ibl_label", n_units=2, n_good=1), allow_direct_insert=True)
    old["UnitQuality"].Unit.insert(
        [dict(pid, rule_name="ibl_label", cluster_id=i, is_good=i, failed_criteria="") for i in range(2)],
        allow_direct_insert=True,
    )
    old["Clusters"]().jobs.refresh()  # its jobs table exists, as on a database that has been populated
    root = tmp_path_factory.mktemp("alf")
    write_probe(probe_path(root, LAB, NICK, DATE, 1, "probe00"), seed=30, n_clusters=N_UNITS)
    yield {"prefix": prefix, "names": names, "pid": pid, "session": session, "root": root}
    schemas.drop(prefix)


def _tables(conn, database: str) -> set[str]:
    rows = conn.query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", args=(database,))
    return {row[0] for row in rows.fetchall()}


def test_activate_refuses_clusters_keyed_by_insertion_only(old_db):
    with pytest.raises(ConfigError, match=r"ephys\._clusters.*iblpipe db migrate"):
        schemas.activate(old_db["prefix"])


def test_migrate_drops_the_old_units_keeps_the_rest_and_populate_reimports(old_db, run_cli, monkeypatch):
    prefix, ephys_db = old_db["prefix"], old_db["names"]["ephys"]
    dry = run_cli("db", "migrate", "--dry-run", "--prefix", prefix)
    assert dry.returncode == 0, dry.stderr
    assert (
        f"would drop {ephys_db}.__unit_quality__unit" in dry.stdout
        and "0 table(s) to rename, 1 to rebuild" in dry.stdout
    )
    conn = acquisition.Session.connection
    assert "_clusters" in _tables(conn, ephys_db)  # a dry run changes nothing
    out = run_cli("db", "migrate", "--prefix", prefix)
    assert out.returncode == 0, out.stderr
    assert f"rebuilt {ephys_db}._clusters (keyed by an earlier layout, 1 rows)" in out.stdout
    left = _tables(conn, ephys_db)
    assert {"probe_insertion", "#good_unit_rule"} <= left and "~~clusters" not in left  # its jobs table went too
    # db migrate then activates the schemas (issue 20's rehash), which declares the dropped tables anew:
    # keyed by spike sorting, and empty until populate
    columns = conn.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = '_clusters'",
        args=(ephys_db,),
    ).fetchall()
    assert "sorting_params" in {c[0] for c in columns}
    for table in ("_clusters", "_clusters__cluster", "__unit_quality", "__unit_quality__unit"):
        assert conn.query(f"SELECT count(*) FROM `{ephys_db}`.`{table}`").fetchone()[0] == 0, table
    again = run_cli("db", "migrate", "--prefix", prefix)
    assert again.returncode == 0 and "nothing to migrate" in again.stdout

    schemas.activate(prefix)
    assert len(behavior.TrialSet & old_db["session"]) == 1  # behaviour rows untouched
    assert len(ephys.ProbeInsertion()) == 1 and len(ephys.GoodUnitRule()) == 2
    assert len(ephys.Clusters()) == 0 and "sorting_params" in ephys.Clusters.primary_key
    monkeypatch.setenv("IBLPIPE_DATA_ROOT", str(old_db["root"]))
    ephys.Clusters.populate()
    ephys.UnitQuality.populate()
    row = (ephys.Clusters & old_db["pid"]).fetch1()
    assert (row["sorting_params"], row["collection"], row["n_clusters"]) == (
        ephys.DEFAULT_SORTING,
        "alf/probe00",
        N_UNITS,
    )
    assert len(ephys.UnitQuality.Unit & old_db["pid"] & {"rule_name": "ibl_label"}) == N_UNITS
