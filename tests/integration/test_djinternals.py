"""The DataJoint privates and naming conventions iblpipe relies on (``schemas/djinternals.py``), against a real server.

When DataJoint is upgraded, this module fails first and names what changed.
"""

import datajoint as dj

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
