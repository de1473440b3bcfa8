"""The key coding of parent lookups (``schemas.lookups``), which needs no database."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from iblpipe.schemas import lookups


def test_rows_coded_by_their_composite_key():
    rng = np.random.default_rng(4)
    probes = [rng.bytes(16) for _ in range(5)]
    rows = [(probes[int(p)], int(c)) for p, c in zip(rng.integers(0, 5, 3000), rng.integers(0, 400, 3000), strict=True)]
    columns = [
        pa.chunked_array(
            [
                pa.array([r[0] for r in rows[:1000]], pa.large_binary()),
                pa.array([r[0] for r in rows[1000:]], pa.large_binary()),
            ]
        ),
        pa.chunked_array([pa.array([r[1] for r in rows], pa.int32())]),
    ]
    codes, keys = lookups._key_codes(columns)
    assert len(keys) == len(set(rows)) and sorted(keys) == sorted(set(rows))
    assert [keys[c] for c in codes] == rows


def test_a_null_key_is_not_coded():
    assert lookups._key_codes([pa.chunked_array([pa.array([1, None, 2], pa.int64())])]) is None


def test_one_key_column_coded_by_its_dictionary():
    rng = np.random.default_rng(5)
    probes = [rng.bytes(16) for _ in range(7)]
    rows = [probes[int(i)] for i in rng.integers(0, 7, 2000)]
    column = pa.chunked_array([pa.array(rows[:500], pa.binary()), pa.array(rows[500:], pa.binary())])
    codes, keys = lookups._key_codes([column])
    assert sorted(keys) == sorted({(r,) for r in rows}) and [keys[c][0] for c in codes] == rows


def test_parent_restriction_is_sql_of_the_keys():
    class Adapter:
        @staticmethod
        def quote_identifier(name):
            return f"`{name}`"

    parent = type("Parent", (), {"connection": type("Conn", (), {"adapter": Adapter})()})()
    one = lookups.Lookup(parent, ("probe_insertion_uuid",), ("probe_name",))
    assert lookups._restriction(one, [(bytes.fromhex("00ff" * 8),), (bytes(16),)]) == (
        f"`probe_insertion_uuid` IN (X'{'00ff' * 8}',X'{'00' * 16}')"
    )
    two = lookups.Lookup(parent, ("session_uuid", "trial_id"), ("x",))
    assert lookups._restriction(two, [(b"\x01" * 16, 3), (b"\x02" * 16, 40)]) == (
        f"(`session_uuid`,`trial_id`) IN ((X'{'01' * 16}',3),(X'{'02' * 16}',40))"
    )
