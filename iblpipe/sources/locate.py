"""Which ALF collection and revision to read for a session or a probe, by IBL's own rules.

One place for the file-path rules the tables follow (issue 14):

- **Spike sorting of a probe** (``brainbox.io.one.SpikeSortingLoader._get_spike_sorting_collection``):
  among the collections ``alf/<probe>[/<sorter>]`` holding ``spikes.*`` files, the requested
  sorter, then ``iblsorter``, then ``pykilosort``, else the shortest collection name
  (``alf/<probe>`` itself before any custom sorter folder).
- **Revision** (``one.util.filter_revision_last_before`` on a cache built from disk): each
  dataset is read from its latest revision folder ``#<revision>#`` (revisions compare as
  strings, ``#YYYY-MM-DD#`` sorts by date; no folder is the empty revision, the oldest). A
  requested revision means the latest one not after it.
- **Task collections** (``ibllib.pipes.base_tasks``): the tasks of
  ``_ibl_experiment.description.yaml``, in order, write their ALF files to ``alf`` or, when
  a task has a ``protocol_number``, to ``alf/task_NN``. Without a description: ``alf``.
- **ONE cache** (``sources.catalog``): when the data root is a ONE cache (``datasets.pqt`` at
  its top), which collections, revisions and files exist is what ``datasets.pqt`` lists, and
  with no revision asked each dataset comes from its ``default_revision``, as
  ``One(mode='local')`` loads it; otherwise the folders on disk decide.

Everything here reads only the session folder and the cache tables; no database, no ONE instance.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from iblpipe.compute.protocols import is_choice_protocol, is_passive
from iblpipe.errors import DataError
from iblpipe.sources.catalog import session_datasets

logger = logging.getLogger(__name__)

DEFAULT_SORTERS = ("iblsorter", "pykilosort")  # IBL's preference after a requested sorter, best first
SORTING_OBJECTS = ("spikes", "clusters", "channels")  # ALF objects of a spike sorting; the newest sets its revision
EXPERIMENT_DESCRIPTION = "_ibl_experiment.description.yaml"  # at the session folder's top level
_REVISION = re.compile(r"^#([^#]+)#$")  # a revision folder name: #2024-05-06#
_RAW_TASK = re.compile(r"^raw_task_data_\d\d$")  # iblrig v8 raw collection of the task with that number
# (session, probe, collections, chosen) whose unruled choice this process has logged at INFO: the check for
# new revisions (schemas.files.follow_new_sortings) locates every insertion on every populate pass.
_TOLD_CHOICES: set[tuple[str, str, tuple[str, ...], str]] = set()
PASSIVE_RAW = "raw_passive_data"  # raw collection of passive protocols on iblrig 6/7 ephys sessions


@dataclass(frozen=True)
class Located:
    """A collection of one session chosen for reading, and the revision its files come from.

    ``revision`` is the latest revision among the object's files ("" when none sits in a
    revision folder); ``files`` resolves each dataset to its own latest revision not after it,
    or, with ``defaults`` (no revision was asked) in a ONE cache, to its default revision.
    """

    session: Path  # the session folder <root>/<lab>/Subjects/<subject>/<date>/<NNN>
    collection: str  # posix path relative to the session, e.g. alf/probe00/pykilosort
    revision: str = ""  # e.g. 2024-05-06; "" for files outside any revision folder
    sorter: str = ""  # spike sorter folder name (probe collections only); "" for alf/<probe> itself
    defaults: bool = False  # no revision asked: a ONE cache's default_revision flags choose the files

    @property
    def folder(self) -> Path:
        """The collection folder (without revision)."""
        return self.session / self.collection

    def files(self, obj: str) -> list[Path]:
        """Files of ALF object ``obj`` (``spikes``, ``clusters``, ``trials``...), each from its latest revision."""
        return _object_files(self.session, self.collection, obj, self.revision or None, self.defaults)


def session_folder(root: str | os.PathLike, lab: str, subject: str, date, number: int) -> Path:
    """The session folder ``<root>/<lab>/Subjects/<subject>/<YYYY-MM-DD>/<NNN>``."""
    from iblpipe.sources.alf import session_path

    return session_path(root, lab, subject, date, number)


def _revision_dirs(folder: Path) -> dict[str, Path]:
    """``{revision: folder}`` of a collection: "" for the folder itself, plus each ``#rev#`` subfolder."""
    out = {"": folder} if folder.is_dir() else {}
    if folder.is_dir():
        for child in folder.iterdir():
            match = _REVISION.match(child.name)
            if match and child.is_dir():
                out[match.group(1)] = child
    return out


def object_of(name: str) -> str | None:
    """The ALF object of a file name (``_ibl_trials.table.pqt`` -> trials), None when not an ALF dataset."""
    parts = name.split(".")
    if len(parts) < 3:
        return None
    return re.sub(r"^_[a-zA-Z0-9]+_", "", parts[0])


def _listing(session: Path, collection: str, obj: str) -> tuple[dict[str, dict[str, bool | None]], bool]:
    """``{dataset name: {revision: default flag}}`` of ``obj`` in ``collection``, and whether a ONE cache listed it.

    From ``datasets.pqt`` when the session lies in a ONE cache that knows it, else from the disk
    (default flags None).
    """
    listed = session_datasets(session)
    out: dict[str, dict[str, bool | None]] = {}
    if listed is None:
        for rev, path in _revision_dirs(session / collection).items():
            for file in path.iterdir():
                if file.is_file() and object_of(file.name) == obj:
                    out.setdefault(file.name, {})[rev] = None
        return out, False
    for dataset in listed:
        if dataset.collection == collection and object_of(dataset.name) == obj:
            out.setdefault(dataset.name, {})[dataset.revision] = dataset.default
    return out, True


def _choose(revisions: dict[str, bool | None], bound: str | None, defaults: bool, where: Path) -> str | None:
    """ONE's revision of one dataset (``one.util.filter_revision_last_before``).

    With ``defaults`` and default flags known: the flagged revision (the only one, when none is
    flagged; else the latest, with a warning); otherwise the latest not after ``bound``.
    """
    if defaults and any(flag is not None for flag in revisions.values()):
        flagged = sorted(rev for rev, flag in revisions.items() if flag)
        if len(flagged) > 1:
            raise DataError(
                f"{where}: datasets.pqt marks revisions {flagged} as default_revision (one expected); "
                "rebuild the ONE cache tables or ask for a revision (SortingParams.max_revision)"
            )
        if flagged:
            return flagged[0]
        if len(revisions) > 1:
            logger.warning("%s: no default_revision in datasets.pqt; reading the latest, as ONE does", where)
    candidates = [rev for rev in revisions if bound is None or rev <= bound]
    return max(candidates) if candidates else None


def _object_files(session: Path, collection: str, obj: str, bound: str | None, defaults: bool) -> list[Path]:
    """Per dataset of ``obj``, its file in the revision ONE reads (``_choose``) that is on disk."""
    listing, cached = _listing(Path(session), collection, obj)
    out = []
    for name in sorted(listing):
        rev = _choose(listing[name], bound, defaults, Path(session) / collection / name)
        if rev is None:
            continue
        path = Path(session) / collection / (f"#{rev}#" if rev else "") / name
        if not cached or path.is_file():  # a listed file missing from disk is missing, as in ONE's local mode
            out.append(path)
    return out


def object_revision(session: Path, collection: str, obj: str, revision: str | None = None) -> str | None:
    """The latest revision ONE reads a file of ``obj`` from in ``collection`` (``revision``: the latest not after it).

    With no ``revision`` in a ONE cache, each dataset's default revision. None when ``obj`` has no file.
    """
    listing, _ = _listing(Path(session), collection, obj)
    where = Path(session) / collection
    chosen = [_choose(revs, revision, revision is None, where / name) for name, revs in listing.items()]
    chosen = [rev for rev in chosen if rev is not None]
    return max(chosen) if chosen else None


def probe_collections(session: Path, probe: str) -> list[str]:
    """Collections ``alf/<probe>`` and ``alf/<probe>/<sorter>`` holding ``spikes.*`` files (any revision)."""
    listed = session_datasets(session)
    if listed is not None:
        mine = {d.collection for d in listed if object_of(d.name) == "spikes"}
        return sorted(c for c in mine if c == f"alf/{probe}" or c.startswith(f"alf/{probe}/"))
    base = Path(session) / "alf" / probe
    if not base.is_dir():
        return []
    candidates = [base] + sorted(p for p in base.iterdir() if p.is_dir() and not _REVISION.match(p.name))
    collections = [p.relative_to(session).as_posix() for p in candidates]
    return [c for c in collections if object_revision(session, c, "spikes") is not None]


def choose_sorting(collections: list[str], probe: str, sorter: str | None = None) -> str | None:
    """IBL's choice among a probe's spike-sorting collections (``SpikeSortingLoader._get_spike_sorting_collection``).

    ``sorter`` "" asks for ``alf/<probe>`` itself; None for the default preference.
    """
    for name in (sorter, *DEFAULT_SORTERS):
        if name is None:
            continue
        wanted = f"alf/{probe}" if name == "" else f"alf/{probe}/{name}"
        if wanted in collections:
            return wanted
    mine = sorted((c for c in collections if f"alf/{probe}" in c), key=len)
    return mine[0] if mine else None


def spike_sorting(session: str | os.PathLike, probe: str, sorter: str | None = None, revision: str | None = None):
    """The spike sorting of one probe to read: collection, sorter and revision by IBL's rules.

    Parameters
    ----------
    session
        The session folder.
    probe
        Probe (collection) name, e.g. ``probe00``.
    sorter
        Requested sorter folder (``iblsorter``, ``pykilosort``, any custom name; "" for
        ``alf/<probe>`` itself). None: IBL's default preference. A requested sorter that is
        absent falls back to the default preference, as IBL's loader does.
    revision
        Latest revision to consider (``YYYY-MM-DD``); None for the latest on disk.

    Raises
    ------
    DataError
        Naming the probe folder, when no collection holds ``spikes.*`` files.
    """
    session = Path(session)
    collections = probe_collections(session, probe)
    chosen = choose_sorting(collections, probe, sorter)
    if chosen is None:
        raise DataError(f"{session / 'alf' / probe}: no spikes.* files in alf/{probe} or a sorter folder below it")
    if len(collections) > 1:
        ruled = {f"alf/{probe}/{name}" for name in (*DEFAULT_SORTERS, *([sorter] if sorter else []))}
        told = (str(session), probe, tuple(collections), chosen)
        if chosen not in ruled and told not in _TOLD_CHOICES:
            _TOLD_CHOICES.add(told)  # once per process; again only when the collections or the choice change
            logger.info("%s: sortings %s, none preferred; reading the shortest, %s", session, collections, chosen)
        else:
            logger.debug("%s: sortings %s; reading %s", session, collections, chosen)
    found = [object_revision(session, chosen, obj, revision) for obj in SORTING_OBJECTS]
    if found[0] is None:
        raise DataError(f"{session / chosen}: no spikes.* files in a revision up to {revision}")
    rev = max(r for r in found if r is not None)
    name = chosen.removeprefix(f"alf/{probe}").strip("/")
    located = Located(session, chosen, rev, name, defaults=revision is None)
    if not located.files("spikes"):
        raise DataError(
            f"{session / chosen}: datasets.pqt of the ONE cache lists spikes.* (revision {rev or 'none'}) but no "
            "file is on disk; download them (SpikeSortingLoader(...).download_spike_sorting()) or update the cache"
        )
    return located


@dataclass(frozen=True)
class Task:
    """One task of a session's experiment description: its protocol and ALF output collection."""

    protocol: str  # e.g. _iblrig_tasks_trainingChoiceWorld8.27.0, passiveChoiceWorld
    collection: str  # ALF collection of its trials: alf or alf/task_NN
    raw_collection: str  # raw data collection named by the description (default raw_task_data_NN)


def tasks(session: str | os.PathLike) -> list[Task]:
    """The tasks of ``_ibl_experiment.description.yaml`` in order; empty when the session has no description."""
    path = Path(session) / EXPERIMENT_DESCRIPTION
    if not path.exists():
        return []
    import yaml

    try:
        description = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise DataError(f"{path}: not valid YAML ({err})") from None
    out = []
    for i, entry in enumerate(description.get("tasks") or []):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise DataError(f"{path}: field tasks: each entry must be one protocol: {{collection: ...}}")
        ((protocol, spec),) = entry.items()
        spec = spec or {}
        raw = spec.get("collection") or f"raw_task_data_{i:02d}"
        number = spec.get("protocol_number")
        if number is None and _RAW_TASK.match(raw):
            number = int(raw[-2:])  # ibllib.pipes.training_status.get_data_collection: alf/task_ + the raw suffix
        collection = "alf" if number is None else f"alf/task_{int(number):02d}"
        out.append(Task(protocol, collection, raw))
    return out


def is_choice_task(task: Task | None) -> bool:
    """A task whose trials count for the training status, as ``training_status.get_data_collection`` decides.

    A choice-world protocol that is not passive and not in ``raw_passive_data``; None (a session
    without an experiment description) counts.
    """
    if task is None:
        return True
    return is_choice_protocol(task.protocol) and task.raw_collection != PASSIVE_RAW


def trials(session: str | os.PathLike, revision: str | None = None) -> list[tuple[Task | None, Located]]:
    """The trials objects of a session: ``(task, located)`` per task collection holding trials, active first.

    Task collections come from the experiment description (``alf`` when there is none; then
    the task is None). Passive tasks are listed after the active ones.
    """
    session = Path(session)
    found = []
    for task in tasks(session) or [None]:
        collection = "alf" if task is None else task.collection
        rev = object_revision(session, collection, "trials", revision)
        if rev is not None:
            found.append((task, Located(session, collection, rev, defaults=revision is None)))
    return sorted(found, key=lambda item: item[0] is not None and is_passive(item[0].protocol))
