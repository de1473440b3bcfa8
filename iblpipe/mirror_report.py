"""What an ingest run did: counts per kind, invalidated rows, skipped records, held deletions, warnings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MAX_LISTED = 50  # (lines) bad records, held deletions and warnings listed in the summary; all are logged


@dataclass
class Report:
    """What a run did."""

    source: str
    inserted: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)
    invalidated: Counter = field(default_factory=Counter)  # table name -> computed rows deleted
    unchanged: int = 0
    bad: list = field(default_factory=list)
    held: list = field(default_factory=list)  # mirror_guard.Held
    warnings: list = field(default_factory=list)  # records.BadRecord: mirrored, but something looks wrong
    kept: int = 0  # (count) mirrored rows left untouched because their record is bad in the source
    dry_run: bool = False

    @property
    def problems(self) -> bool:
        """Records the source holds that were not mirrored (bad) or deletions held back: someone must look."""
        return bool(self.bad or self.held)

    @property
    def changed(self) -> bool:
        return bool(sum(self.inserted.values()) + sum(self.updated.values()) + sum(self.deleted.values()))

    def summary(self) -> str:
        """A few lines for the terminal."""
        if not self.changed:
            head = f"mirror up to date with {self.source}: nothing changed ({self.unchanged} records unchanged)"
        else:
            head = (
                f"{'would change' if self.dry_run else 'mirrored'} {self.source}: "
                f"{sum(self.inserted.values())} inserted, {sum(self.updated.values())} updated, "
                f"{sum(self.deleted.values())} deleted, {self.unchanged} unchanged"
            )
        lines = [head]
        for label, counts in (("inserted", self.inserted), ("updated", self.updated), ("deleted", self.deleted)):
            if counts:
                lines.append(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        if self.invalidated:
            lines.append(
                "  invalidated computed rows: " + ", ".join(f"{k} {v}" for k, v in sorted(self.invalidated.items()))
            )
        for label, items in (
            (f"skipped {len(self.bad)} bad records ({self.kept} mirrored rows of them kept unchanged)", self.bad),
            (f"held {len(self.held)} deletions", self.held),
            (f"{len(self.warnings)} warnings (mirrored anyway)", self.warnings),
        ):
            if items:
                lines.append(f"  {label}:")
                lines += [f"    {b.kind} {b.record_id}: {b.reason}" for b in items[:MAX_LISTED]]
                if len(items) > MAX_LISTED:
                    lines.append(f"    ... and {len(items) - MAX_LISTED} more (each one is in the log)")
        return "\n".join(lines)
