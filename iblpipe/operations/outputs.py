"""What the pipeline serves: the report (figures and pages), the per-mouse aggregate files, the status table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path


def draw(
    out: Path,
    *,
    subjects: Sequence[str] | None = None,
    force: bool = False,
    processes: int = 1,
    progress: Callable | None = None,
):
    """Draw the figures of changed mice into ``out`` and rewrite the report pages; ``report.ReportResult``.

    The schemas must be bound (``operations.activate``).
    """
    from iblpipe.schemas import report

    return report.draw_report(
        out, list(subjects) if subjects else None, force=force, progress=progress, processes=processes
    )


def export(out: Path, *, subjects: Sequence[str] | None = None, force: bool = False):
    """Write the per-mouse aggregate files of mice whose content changed under ``out``; ``export.ExportResult``."""
    from iblpipe import export as exporter

    return exporter.export(out, subjects=list(subjects) if subjects else None, force=force)


def status(*, include_manual: bool = False) -> list:
    """Per table: rows, keys to do, job counts and reservations (with each worker's Slurm job, if any)."""
    from iblpipe.populate.queue import pipeline_status
    from iblpipe.slurm import reservation_jobs

    rows = [r for r in pipeline_status() if r.auto or include_manual]
    if any(r.reservations for r in rows):
        jobs = reservation_jobs()  # {} without Slurm
        for r in rows:
            for res in r.reservations:
                res["slurm_job"] = jobs.get((res["host"], res["pid"]))
    return rows
