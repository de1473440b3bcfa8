"""Write a whole synthetic lab: Alyx dump, ALF session folders, ONE cache tables, ground truth.

Output layout (others code against it):

- ``alyx_dump.json``: Django ``dumpdata`` list of ``{"model", "pk", "fields"}``. Foreign keys
  to labs, users, projects, water types, strains and lines are natural keys (names);
  foreign keys to subjects, sessions and probe insertions are uuid pks from
  ``iblpipe.sources.ids`` (a session pk is the ONE cache eid of its folder).
- ``<lab>/Subjects/<nickname>/<YYYY-MM-DD>/<NNN>/alf/``: trials (table.pqt or per-attribute
  .npy), and ``alf/probeNN/`` spike sortings, mixed as real labs have them (``demo.ephys.PROBE_LAYOUTS``:
  flat, ``pykilosort/``, or pykilosort + ``iblsorter/`` + a later ``iblsorter/#YYYY-MM-DD#`` revision).
  Every other recording session is iblrig 8 passive + ephys chained (``demo.rig``):
  ``_ibl_experiment.description.yaml``, ``raw_task_data_0N/`` v8 settings, trials in ``alf/task_01/``.
- ``sessions.pqt``, ``datasets.pqt``: ONE cache tables, ``one.api.One(cache_dir=out)`` loads them.
- ``ground_truth.json``: per mouse the learning parameters and IBL's training status per date.

The same arguments give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from iblpipe.demo.lab import lab_names, lab_users, mouse_specs
from iblpipe.demo.mouse import WATER_TYPE_SESSION, WATER_TYPE_SUPPLEMENT, simulate_mouse
from iblpipe.errors import ConfigError
from iblpipe.parallel import ordered_map
from iblpipe.sources.ids import lab_uuid, name_uuid

logger = logging.getLogger(__name__)

MAX_LABS = 100  # (labs) largest --labs accepted
MAX_MICE = 5000  # (mice) largest --mice accepted
MAX_WORKERS = 64  # (processes) largest --workers accepted
PROJECT = ("iblpipe_demo", "The synthetic lab written by `iblpipe demo generate`")
CACHE_ORIGIN = "iblpipe demo generate"
CACHE_DATE = "2025-01-01 00:00"  # fixed ``date_created`` of the cache tables (reproducible bytes)
GENERATOR_VERSION = 4  # 3: sorter collections, revisions, channel-only regions, trials layouts; 4: iblrig 8 chained


@dataclasses.dataclass(frozen=True)
class Summary:
    """What one generation wrote."""

    out: Path
    labs: int
    mice: int
    sessions: int
    trials: int
    probes: int
    seed: int


def check_args(labs: int, mice: int, seed: int, max_sessions: int | None, workers: int = 1) -> None:
    """Raise ConfigError naming the bad argument."""
    if not isinstance(labs, int) or not 1 <= labs <= MAX_LABS:
        raise ConfigError(f"--labs must be an integer from 1 to {MAX_LABS}, got {labs!r}")
    if not isinstance(mice, int) or not 1 <= mice <= MAX_MICE:
        raise ConfigError(f"--mice must be an integer from 1 to {MAX_MICE}, got {mice!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {seed!r}")
    if max_sessions is not None and (not isinstance(max_sessions, int) or max_sessions < 3):
        raise ConfigError(f"--max-sessions must be an integer >= 3, got {max_sessions!r}")
    if not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"--workers must be an integer from 1 to {MAX_WORKERS}, got {workers!r}")


def prepare_out(out: str | os.PathLike, force: bool) -> Path:
    """The output directory, empty; refuse a non-empty one unless ``force`` (then clear it)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise ConfigError(f"--out {path} is not empty; pass --force to overwrite it")
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _region_ids() -> dict[str, int]:
    from iblatlas.regions import BrainRegions

    from iblpipe.demo.ephys import TRACKS

    br = BrainRegions()
    names = sorted({name for track in TRACKS for name, _ in track})
    return {name: int(br.acronym2id(name)[0]) for name in names}


def _static_records(n_labs: int) -> list[dict]:
    records = [
        {
            "model": "subjects.project",
            "pk": str(name_uuid("project", PROJECT[0])),
            "fields": {"name": PROJECT[0], "description": PROJECT[1]},
        }
    ]
    for name in (WATER_TYPE_SESSION, WATER_TYPE_SUPPLEMENT):
        records.append(
            {"model": "actions.watertype", "pk": str(name_uuid("watertype", name)), "fields": {"name": name}}
        )
    for i, lab in enumerate(lab_names(n_labs)):
        records.append(
            {
                "model": "misc.lab",
                "pk": str(lab_uuid(lab)),
                "fields": {"name": lab, "institution": f"{lab} institute", "timezone": "Europe/London"},
            }
        )
        for user in lab_users(i, lab):
            records.append(
                {
                    "model": "misc.labmember",
                    "pk": str(name_uuid("user", user["username"])),
                    "fields": {
                        "username": user["username"],
                        "email": f"{user['username']}@{lab}.example.org",
                        "first_name": user["first_name"],
                        "last_name": user["last_name"],
                        "is_active": True,
                        "lab": [lab],
                    },
                }
            )
    return records


class _DumpWriter:
    """Streams dumpdata records into one JSON list."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("w", encoding="utf-8")
        self.file.write("[")
        self.first = True

    def write(self, records: list[dict]) -> None:
        for record in records:
            self.file.write("\n" if self.first else ",\n")
            self.file.write(json.dumps(record, sort_keys=False, separators=(",", ":")))
            self.first = False

    def close(self) -> None:
        self.file.write("\n]\n")
        self.file.close()


def write_cache(out: Path, sessions: list[dict], datasets: list[dict]) -> None:
    """``sessions.pqt`` and ``datasets.pqt`` as ``one.alf.cache.make_parquet_db`` writes them, ids reproducible.

    Same columns, dtypes and index as ``make_parquet_db(hash_ids=False)`` plus Alyx's ``default_revision``; session ids are
    the eids of ``iblpipe.sources.ids.session_uuid``, dataset ids ``name_uuid('dataset', eid, rel_path)``,
    and the parquet metadata carries a fixed date so the bytes do not depend on the clock.
    """
    from iblutil.io import parquet
    from one.alf.cache import DATASETS_COLUMNS, SESSIONS_COLUMNS

    df_ses = pd.DataFrame(sessions, columns=list(SESSIONS_COLUMNS)).astype(SESSIONS_COLUMNS)
    df_ses = df_ses.set_index("id").sort_index()
    df_dsets = pd.DataFrame(datasets)
    df_dsets["id"] = [
        str(name_uuid("dataset", e, r)) for e, r in zip(df_dsets["eid"], df_dsets["rel_path"], strict=True)
    ]
    df_dsets["hash"] = ""
    df_dsets["exists"] = True
    df_dsets["qc"] = "NOT_SET"
    df_dsets = df_dsets[list(DATASETS_COLUMNS)].astype(DATASETS_COLUMNS).set_index(["eid", "id"]).sort_index()
    # as Alyx caches have (ONE warns for every dataset without it): the latest revision of each dataset
    unrevised = df_dsets["rel_path"].str.replace(r"#[^#]+#/", "", regex=True)
    revision = df_dsets["rel_path"].str.extract(r"#([^#]+)#/", expand=False).fillna("")
    latest = revision.groupby([df_dsets.index.get_level_values("eid"), unrevised.to_numpy()]).transform("max")
    df_dsets["default_revision"] = (revision == latest).to_numpy()
    metadata = {"date_created": CACHE_DATE, "origin": CACHE_ORIGIN}
    parquet.save(out / "sessions.pqt", df_ses, metadata)
    parquet.save(out / "datasets.pqt", df_dsets, metadata)


def generate(
    out: str | os.PathLike,
    *,
    labs: int = 3,
    mice: int = 12,
    seed: int = 0,
    max_sessions: int | None = None,
    force: bool = False,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Write a synthetic lab under ``out``; return what was written.

    Parameters
    ----------
    out : folder to write (must be empty or absent unless ``force``).
    labs, mice : size of the lab; mouse ``i`` belongs to lab ``i % labs``; mice 0-3 are a
        fast learner (recorded, 2 probes), a typical learner, an untrainable and an
        unbiasable mouse; the others are drawn.
    seed : the random seed; the same arguments give byte-identical files.
    max_sessions : cap on sessions per mouse (small, fast labs for tests), None = whole lives.
    force : clear a non-empty ``out`` first.
    workers : processes simulating mice in parallel (the output does not depend on it).
    progress : called with 1 after each mouse (e.g. ``tqdm.update``).
    """
    check_args(labs, mice, seed, max_sessions, workers)
    root = prepare_out(out, force)
    region_ids = _region_ids()
    specs = mouse_specs(labs, mice, seed)
    dump = _DumpWriter(root / "alyx_dump.json")
    dump.write(_static_records(labs))
    sessions: list[dict] = []
    datasets: list[dict] = []
    truths = []
    n_trials = n_probes = 0
    simulate = functools.partial(simulate_mouse, out=root, seed=seed, max_sessions=max_sessions, region_ids=region_ids)
    try:
        with ordered_map(simulate, specs, workers) as results:
            for spec, result in zip(specs, results, strict=True):
                dump.write(result.records)
                sessions += result.sessions
                datasets += result.datasets
                truths.append(result.truth)
                n_trials += result.n_trials
                n_probes += sum(r["model"] == "experiments.probeinsertion" for r in result.records)
                logger.debug("mouse %s: %d sessions", spec.nickname, len(result.sessions))
                if progress is not None:
                    progress(1)
    finally:
        dump.close()
    write_cache(root, sessions, datasets)
    truth = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "labs": labs,
        "mice": mice,
        "max_sessions": max_sessions,
        "status_procedure": "iblpipe.demo.truth (ibllib.pipes.training_status on brainbox, last 3 dates)",
        "subjects": truths,
    }
    (root / "ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    summary = Summary(root, labs, mice, len(sessions), n_trials, n_probes, seed)
    logger.info(
        "demo lab in %s: %d labs, %d mice, %d sessions, %d trials, %d probe insertions",
        root,
        labs,
        mice,
        summary.sessions,
        summary.trials,
        summary.probes,
    )
    return summary


__all__ = ["Summary", "generate", "check_args", "prepare_out", "write_cache"]
