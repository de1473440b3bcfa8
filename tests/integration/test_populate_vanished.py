"""A make whose parent row vanishes mid-make (an ingest deleted or invalidated it) is requeued or dropped, never an error.

The makes below delete a parent row through a second connection (as a concurrent ingest
would) before inserting, so the server answers 1452 ``Cannot add or update a child row``.
"""

from __future__ import annotations

import datajoint as dj
import pymysql
import pytest

from iblpipe.populate import Worker

STATE = {"conn": None, "calls": {}}


def other_session(sql: str, args: tuple = ()) -> None:
    """Run ``sql`` on the second connection (autocommit): what a concurrent ingest does."""
    with STATE["conn"].cursor() as cursor:
        cursor.execute(sql, args)


@pytest.fixture(scope="module")
def tables(prefix, db_server):
    STATE["conn"] = pymysql.connect(
        host=db_server["host"],
        port=db_server["port"],
        user=db_server["user"],
        password=db_server["password"],
        autocommit=True,
    )
    schema = dj.Schema(prefix + "vanish")

    @schema
    class Thing(dj.Manual):
        definition = """
        # a parent row that an ingest may delete
        thing : int32    # (index) id
        """

    @schema
    class Tag(dj.Manual):
        definition = """
        # a second parent, deleted and restored by the make of thing 2
        tag : varchar(16)   # name
        """

    @schema
    class Derived(dj.Computed):
        definition = """
        # one row per thing
        -> Thing
        ---
        -> Tag
        """

        def make(self, key):
            tries = STATE["calls"][key["thing"]] = STATE["calls"].get(key["thing"], 0) + 1
            table = f"`{prefix}vanish`"
            if key["thing"] == 1:  # its own parent is deleted: the key leaves the key source
                other_session(f"DELETE FROM {table}.`thing` WHERE thing = 1")
            elif tries == 1:  # the tag is deleted on the first try, back on the next (an update)
                other_session(f"DELETE FROM {table}.`tag` WHERE tag = 'x'")
            else:
                other_session(f"INSERT IGNORE INTO {table}.`tag` VALUES ('x')")
            self.insert1(dict(key, tag="x"))

    yield Thing, Tag, Derived
    schema.drop(prompt=False)
    STATE["conn"].close()


def test_parent_vanished_mid_make_is_dropped_or_requeued_never_an_error(tables):
    thing, tag, derived = tables
    thing.insert([{"thing": 1}, {"thing": 2}])
    tag.insert1({"tag": "x"})
    report = Worker([derived]).run()
    assert report.ok and not report.errors, report.errors
    assert derived.to_dicts() == [{"thing": 2, "tag": "x"}]
    assert len(derived.jobs.errors) == 0 and len(derived.jobs.pending) == 0
    assert not thing & {"thing": 1}
    assert STATE["calls"] == {1: 1, 2: 2}  # thing 1 once (dropped), thing 2 twice (requeued, then made)
