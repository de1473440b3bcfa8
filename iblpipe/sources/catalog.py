"""Which ALF datasets a session has, as a ONE cache's ``datasets.pqt`` lists them (issue 14).

When the data root is a ONE cache (it holds ``datasets.pqt`` beside ``<lab>/Subjects/...``, as
``ONE().cache_dir`` does), ``sources.locate`` follows the cache table as ``One(mode='local')``
does, rather than the folders on disk:

- a collection, revision or file on disk that the table does not list is not seen;
- a dataset whose ``qc`` is ``CRITICAL`` is left out (ONE's default ``qc=QC.FAIL`` filter);
- with no revision asked, each dataset is read from the revision its ``default_revision`` flag
  names (caches without the column, ONE 1.x and ``make_parquet_db``: the latest revision);
- the ``exists`` flag is not used: ONE's local mode checks the disk instead, after choosing, so
  a listed file missing from disk is missing (no other revision is read in its place).

Tables of every ONE version load through ONE's own ``one.alf.cache.load_tables`` (1.x integer
``id_0/id_1`` halves become uuid strings). A session absent from ``sessions.pqt`` is read from
the disk (ONE cannot open it either), with a log line. Each cache is read once per process and
again when its files change.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from iblpipe.errors import SourceError

logger = logging.getLogger(__name__)

DATASETS_TABLE = "datasets.pqt"  # ONE's datasets cache table, at the top of the cache directory
SESSIONS_TABLE = "sessions.pqt"  # ONE's sessions cache table, beside it
HIDDEN_QC = "CRITICAL"  # dataset QC that ONE's default filter (qc <= FAIL) leaves out
SESSION_DEPTH = 5  # a session folder is <root>/<lab>/Subjects/<subject>/<date>/<NNN>
# rel_path = [collection/][#revision#/]name; the collection never holds a '#'
_REL_PATH = r"^(?:(?P<collection>[^#]*)/)?(?:#(?P<revision>[^#/]+)#/)?(?P<name>[^/]+)$"


@dataclass(frozen=True)
class Dataset:
    """One dataset of a session as the cache lists it."""

    collection: str  # e.g. alf/probe00/pykilosort
    revision: str  # e.g. 2024-05-06; "" outside any revision folder
    name: str  # file name, e.g. spikes.times.npy
    default: bool | None  # the cache's default_revision flag; None when the cache has no such column


class Catalog:
    """The ``alf`` datasets of every session of one ONE cache, by session folder (relative posix path)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        datasets, sessions = load_datasets(root)
        self.sessions = set(sessions)
        self.has_defaults = "default_revision" in datasets.columns
        self._frame = datasets
        self._rows = datasets.groupby("session_path", sort=False).indices if len(datasets) else {}
        self._listed: dict[str, list[Dataset]] = {}  # session -> its datasets, built on first use

    def datasets(self, session: str) -> list[Dataset] | None:
        """The datasets listed for ``session`` (``lab/Subjects/subject/date/NNN``); None when the cache lacks it."""
        if session not in self.sessions:
            return None
        if session not in self._listed:
            rows = self._rows.get(session, [])
            part = self._frame.iloc[rows]
            defaults = part["default_revision"] if self.has_defaults else [None] * len(part)
            self._listed[session] = [
                Dataset(c, r, n, None if d is None else bool(d))
                for c, r, n, d in zip(part["collection"], part["revision"], part["name"], defaults, strict=True)
            ]
        return self._listed[session]


_CATALOGS: dict[Path, tuple[tuple, Catalog]] = {}  # root -> (table file stats, catalog); filled on first use


def _stamp(root: Path) -> tuple:
    return tuple((s.st_mtime_ns, s.st_size) for s in (os.stat(root / n) for n in (DATASETS_TABLE, SESSIONS_TABLE)))


def catalog_of(session: str | os.PathLike) -> tuple[Catalog, str] | None:
    """``(catalog, session key)`` when the session folder lies in a ONE cache (its root holds ``datasets.pqt``)."""
    session = Path(session)
    if len(session.parts) <= SESSION_DEPTH:
        return None
    root = session.parents[SESSION_DEPTH - 1]
    if not (root / DATASETS_TABLE).is_file() or not (root / SESSIONS_TABLE).is_file():
        return None
    stamp = _stamp(root)
    cached = _CATALOGS.get(root)
    if cached is None or cached[0] != stamp:
        cached = (stamp, Catalog(root))
        _CATALOGS[root] = cached
        logger.debug("read the ONE cache tables of %s", root)
    return cached[1], session.relative_to(root).as_posix()


def session_datasets(session: str | os.PathLike) -> list[Dataset] | None:
    """The ``alf`` datasets the ONE cache lists for a session folder; None when it is not in a ONE cache."""
    found = catalog_of(session)
    if found is None:
        return None
    catalog, key = found
    listed = catalog.datasets(key)
    if listed is None:
        logger.info("%s: not in %s; reading the files on disk", session, catalog.root / SESSIONS_TABLE)
    return listed


def load_datasets(cache_dir: str | os.PathLike):
    """``(datasets, session paths)`` of a ONE cache, as ONE loads them (any version).

    ``datasets`` has one row per ``alf`` dataset not hidden by QC, with ``session_path``
    (``lab/Subjects/subject/date/NNN``), ``collection``, ``revision``, ``name`` and, when the
    cache has it, ``default_revision``.
    """
    from iblpipe.sources.one_cache import load_sessions, load_table

    cache_dir = Path(cache_dir)
    sessions = load_sessions(cache_dir)
    paths = sessions["lab"].astype(str) + "/Subjects/" + sessions["subject"].astype(str) + "/"
    paths += sessions["date"].astype(str).str[:10] + "/" + sessions["number"].astype(int).map("{:03d}".format)
    by_eid = dict(zip(sessions["id"], paths, strict=True))
    table = load_table(cache_dir, "datasets").reset_index()
    missing = {"eid", "rel_path"} - set(table.columns)
    if missing:
        raise SourceError(f"{cache_dir / DATASETS_TABLE}: columns {sorted(missing)} missing (not a ONE datasets table)")
    table = table[table["rel_path"].str.startswith("alf")]
    if "qc" in table.columns:
        table = table[table["qc"].astype(str) != HIDDEN_QC]
    rel = table["rel_path"].astype("category")  # the same few names recur in every session: parse each once
    parts = rel.cat.categories.to_series().str.extract(_REL_PATH).fillna({"collection": "", "revision": ""})
    parts = parts.iloc[rel.cat.codes.to_numpy()].set_axis(table.index)
    out = parts.assign(session_path=table["eid"].astype(str).map(by_eid))
    if "default_revision" in table.columns:
        out["default_revision"] = table["default_revision"].astype(bool)
    return out.dropna(subset=["session_path", "name"]).reset_index(drop=True), paths.tolist()
