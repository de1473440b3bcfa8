"""The DataJoint privates and naming conventions iblpipe relies on (``schemas/djinternals.py``), against a real server.

When DataJoint is upgraded, this module fails first and names what changed.
"""

import inspect

import datajoint as dj
import pytest

from iblpipe import schemas
from iblpipe.populate.selection import auto_tables
from iblpipe.schemas import behavior, djinternals, ephys


def test_datajoint_is_the_pinned_version():
    assert dj.__version__ == djinternals.PINNED_VERSION, (
        f"DataJoint {dj.__version__} is not {djinternals.PINNED_VERSION}: re-check every function of "
        "iblpipe/schemas/djinternals.py against it, then update PINNED_VERSION"
    )


def test_table_naming_conventions(prefix):
    schemas.activate(prefix)
    trial = behavior.TrialSet.Trial()
    assert djinternals.is_auto_populated(trial.table_name)
    assert djinternals.is_auto_populated(behavior.TrainingStatus().table_name)
    assert not djinternals.is_auto_populated(behavior.BehaviorParams().table_name)
    assert djinternals.master_of(trial.full_table_name) == behavior.TrialSet().full_table_name
    assert djinternals.master_of(behavior.TrialSet().full_table_name) is None
    assert djinternals.schema_table_label(trial.full_table_name) == "behavior._trial_set__trial"
    lineage = dj.conn().query(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
        args=(f"{prefix}behavior", djinternals.LINEAGE_TABLE),
    )
    assert lineage.fetchone()[0] == 1


def test_declared_tables_are_the_modules_own_in_dependency_order(prefix):
    schemas.activate(prefix)
    names = [t.__name__ for t in schemas.tables(behavior)]
    assert names.index("BehaviorParams") < names.index("TrialSet")  # parameters before the tables using them
    assert names.index("FitParams") < names.index("ConvergedFit")
    assert names.index("TrainingStatus") < names.index("LearningCurve")  # LearningCurve's key source reads it
    assert "Session" not in names  # acquisition.Session is named in definitions, not declared here
    labels = [schemas.table_label(t) for t in auto_tables()]
    assert labels.index("behavior.TrialSet") < labels.index("behavior.TrainingStatus") < labels.index("ephys.Clusters")
    assert schemas.table_label(ephys.Clusters) == "ephys.Clusters"


def test_jobs_and_populate_one(prefix):
    """populate_one makes a reserved key (True), skips a done one (False), returns a failing make's error."""
    schema = dj.Schema(f"{prefix}djtest", connection=dj.conn())

    @schema
    class Number(dj.Lookup):
        definition = """
        n : int32
        """
        contents = [{"n": 1}, {"n": 2}]

    @schema
    class Square(dj.Computed):
        definition = """
        -> Number
        ---
        square : int32
        """

        def make(self, key):
            if key["n"] == 2:
                raise ValueError("two is refused")
            self.insert1(dict(key, square=key["n"] ** 2))

    try:
        table = Square()
        assert djinternals.jobs_if_declared(table) is None  # looking never creates it
        table.jobs.refresh()
        assert djinternals.jobs_if_declared(table) is not None
        assert djinternals.populate_one(table, {"n": 1}) is True
        assert table.to_dicts() == [{"n": 1, "square": 1}]
        assert djinternals.populate_one(table, {"n": 1}) is False  # done: not reserved again
        key, error = djinternals.populate_one(table, {"n": 2})
        assert key == {"n": 2} and isinstance(error, ValueError)
        assert len(table.jobs.errors) == 1
    finally:
        schema.drop(prompt=False)


def test_analyst_safemode_is_left_alone(prefix):
    """Connecting and activating must not turn off DataJoint's delete prompt for an analyst's session."""
    before = dj.config["safemode"]
    schemas.activate(prefix)
    assert dj.config["safemode"] == before


def test_select_sql_is_the_select_datajoint_runs(prefix):
    """The columnar path reads the very SELECT DataJoint's fetch would run, limit and order applied."""
    schemas.activate(prefix)
    query = behavior.BehaviorParams.proj("rt_definition")
    expr, sql = djinternals.select_sql(query, order_by="params_name", limit=1)
    assert sql.lstrip().upper().startswith("SELECT") and "LIMIT 1" in sql.upper()
    assert [tuple(row) for row in dj.conn().query(sql).fetchall()] == [
        tuple(r.values()) for r in query.to_dicts(order_by="params_name", limit=1)
    ]
    assert djinternals.query_cache_on(dj.conn()) is False


def test_narrow_sql_selects_fewer_columns_of_the_same_rows(prefix):
    """``narrow_sql``: DataJoint's SELECT with some fields only (the parent lookups); none for DISTINCT selects."""
    schemas.activate(prefix)
    query = behavior.BehaviorParams()
    sql = djinternals.narrow_sql(query, ["params_name"])
    assert [row[0] for row in dj.conn().query(sql).fetchall()] == [r["params_name"] for r in query.to_dicts()]
    distinct = dj.U("rt_definition") & behavior.BehaviorParams  # SELECT DISTINCT
    assert djinternals.narrow_sql(distinct, ["rt_definition"]) is None


def test_jobs_table_names(prefix):
    """DataJoint names the jobs table of ``_trial_set`` (Imported) and ``__training_status`` (Computed) as we do."""
    from datajoint.jobs import Job  # table.jobs would declare the jobs table

    schemas.activate(prefix)
    for table in (behavior.TrialSet(), behavior.TrainingStatus()):
        assert Job(table).table_name == djinternals.jobs_table_name(table.table_name)
    assert djinternals.jobs_table_name("_trial_set") == "~~trial_set"
    assert djinternals.jobs_table_name("__training_status") == "~~training_status"


def test_lineage_values_start_with_the_origin_table(prefix):
    """A primary-key attribute's lineage is ``database.table.attribute``, unquoted, of the table declaring it."""
    schemas.activate(prefix)
    params = behavior.BehaviorParams()
    rows = (
        dj.conn()
        .query(
            f"SELECT table_name, lineage FROM `{params.database}`.`{djinternals.LINEAGE_TABLE}` "
            "WHERE attribute_name = 'params_name' AND table_name NOT LIKE %s",
            args=(djinternals.JOBS_PREFIX + "%",),  # a jobs table's key attributes are its own lineage
        )
        .fetchall()
    )
    origin = djinternals.lineage_origin(params.database, params.table_name) + "params_name"
    tables = {table for table, _ in rows}
    assert {params.table_name, behavior.PsychometricFit().table_name} <= tables  # declared, and inherited
    assert {lineage for _, lineage in rows} == {origin}


def test_unbind_lets_a_schema_activate_for_another_database(prefix):
    """DataJoint refuses to activate a bound schema for another database; ``unbind`` gets past that."""
    schema = dj.Schema(f"{prefix}djbind_a", connection=dj.conn())
    try:
        with pytest.raises(dj.DataJointError, match="already activated"):
            schema.activate(f"{prefix}djbind_b", connection=dj.conn())
        djinternals.unbind(schema)
        schema.activate(f"{prefix}djbind_b", connection=dj.conn())
        assert schema.database == f"{prefix}djbind_b" and schema.exists
    finally:
        schema.drop(prompt=False)
        dj.Schema(f"{prefix}djbind_a", connection=dj.conn()).drop(prompt=False)


def test_set_port_is_the_port_datajoint_reconnects_to(db_server):
    """``Connection.connect`` (the reconnect after a lost link) connects with ``conn_info``, which holds the port."""
    conn = dj.conn()
    assert conn.conn_info["port"] == int(dj.config["database.port"])
    assert "self.conn_info" in inspect.getsource(type(conn).connect)
    port = conn.conn_info["port"]
    djinternals.set_port(conn, port + 1)
    try:
        assert conn.conn_info["port"] == port + 1
    finally:
        djinternals.set_port(conn, port)


def test_from_where_sql_counts_the_querys_rows(prefix):
    schemas.activate(prefix)
    query = behavior.BehaviorParams & {"rt_definition": "none-such"}
    for q, n in ((behavior.BehaviorParams(), len(behavior.BehaviorParams())), (query, 0)):
        assert dj.conn().query(f"SELECT COUNT(*) FROM {djinternals.from_where_sql(q)}").fetchone()[0] == n
    assert len(behavior.BehaviorParams()) >= 1


def test_the_error_names_and_messages_matched_are_datajoints():
    """The worker's error policy matches DataJoint's lost-connection class by name and a changed make by its text."""
    import datajoint.autopopulate

    assert dj.errors.LostConnectionError.__name__ == djinternals.LOST_CONNECTION_ERROR
    assert issubclass(dj.errors.LostConnectionError, dj.DataJointError)
    assert djinternals.FETCH_CHANGED in inspect.getsource(datajoint.autopopulate)
    assert hasattr(dj, "Not")  # populate's pending-key cleanup uses dj.Not


def test_connect_and_activate_leave_the_analysts_warning_filters_alone(prefix):
    """DataJoint's MariaDB warning is dropped only while iblpipe opens the connection (last here: it reconnects)."""
    import warnings

    from iblpipe import connection

    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inside = list(warnings.filters)
        connection.connect(reset=True)  # a new connection: DataJoint warns about MariaDB here
        schemas.activate(prefix)
        assert warnings.filters == inside
    assert warnings.filters == before
    assert not [w for w in caught if connection.MARIADB_WARNING in str(w.message)]
    assert "MariaDB" in dj.conn().query("SELECT @@version").fetchone()[0]  # so DataJoint did warn
