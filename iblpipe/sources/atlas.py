"""The Allen CCF 2017 brain-region ontology, read from ``iblatlas`` (no database)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd


class Ontology(NamedTuple):
    """The regions and their ancestor closure, ready for a bulk insert."""

    regions: pd.DataFrame  # brain_region_id, acronym, brain_region_name, parent_id, level, graph_order, hexcolor
    closure: pd.DataFrame  # brain_region_id, ancestor_id, distance (0 = the region itself)


def allen_ontology() -> Ontology:
    """Every region of ``iblatlas.regions.BrainRegions`` (both hemispheres) and its ancestor closure.

    Negative ids are iblatlas' left-hemisphere copies; they keep the acronym of
    their right-hemisphere twin, so acronyms are not unique (ids are).
    """
    from iblatlas.regions import BrainRegions

    br = BrainRegions()
    parent = np.asarray(br.parent, dtype=float)
    regions = pd.DataFrame(
        {
            "brain_region_id": np.asarray(br.id, dtype=np.int64),
            "acronym": np.asarray(br.acronym, dtype=str),
            "brain_region_name": np.asarray(br.name, dtype=str),
            "parent_id": pd.array(np.where(np.isnan(parent), 0, parent).astype(np.int64), dtype="Int64"),
            "level": np.asarray(br.level, dtype=np.int64),
            "graph_order": np.asarray(br.order, dtype=np.int64),
            "hexcolor": [f"#{h}" if not str(h).startswith("#") else str(h) for h in br.hexcolor],
        }
    )
    regions.loc[np.isnan(parent), "parent_id"] = pd.NA
    return Ontology(regions, ancestor_closure(regions["brain_region_id"].to_numpy(), parent))


def ancestor_closure(ids: np.ndarray, parents: np.ndarray) -> pd.DataFrame:
    """All (region, ancestor, distance) pairs, the region itself included at distance 0.

    ``parents[i]`` is the parent id of ``ids[i]`` (NaN for a root). Vectorised: one
    numpy step per ontology level.
    """
    ids = np.asarray(ids, dtype=np.int64)
    parents = np.asarray(parents, dtype=float)
    if ids.shape != parents.shape:
        raise ValueError(f"ids ({ids.size}) and parents ({parents.size}) differ in length")
    index_of = pd.Series(np.arange(ids.size), index=ids)
    has_parent = ~np.isnan(parents)
    parent_index = np.full(ids.size, -1)
    parent_index[has_parent] = index_of.reindex(parents[has_parent].astype(np.int64)).fillna(-1).to_numpy(int)
    if np.any(has_parent & (parent_index < 0)):
        bad = ids[has_parent & (parent_index < 0)][:5]
        raise ValueError(f"parents: regions {bad.tolist()} name a parent id that is not in ids")
    rows = [pd.DataFrame({"brain_region_id": ids, "ancestor_id": ids, "distance": 0})]
    origin, at = np.arange(ids.size), parent_index.copy()
    distance = 1
    while True:
        keep = at >= 0
        origin, at = origin[keep], at[keep]
        if not origin.size:
            break
        rows.append(pd.DataFrame({"brain_region_id": ids[origin], "ancestor_id": ids[at], "distance": distance}))
        at = parent_index[at]
        distance += 1
        if distance > ids.size:
            raise ValueError("parents: the ontology has a cycle")
    return pd.concat(rows, ignore_index=True)
