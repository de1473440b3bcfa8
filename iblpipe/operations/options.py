"""``WorkerOptions``: what a populate worker runs, defined once for populate, nightly, Slurm and the demo.

A worker in another process (``populate --processes``, a Slurm task) gets the same options through
:meth:`WorkerOptions.argv`, and a command builds them with ``commands._common.worker_options``; both are
derived from the fields. A new option is a new field here and its flag of the same name in
``commands/_common.add_worker_options`` (``--loop``, ``--sleep``, ``--duration``: ``commands/populate.py``);
``tests/unit/test_operations.py`` checks every field has its flag and survives the round trip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from iblpipe.errors import ConfigError
from iblpipe.populate.transient import DEFAULT_TRANSIENT_BUDGET_S

DEFAULT_SLEEP_S = 60.0  # (s) pause between passes of a looping worker


@dataclass(frozen=True)
class WorkerOptions:
    """Options of one populate worker (tables, keys, limits); ``argv()`` gives them as ``iblpipe populate`` flags."""

    tables: tuple[str, ...] = ("all",)  # 'all', schema names (behavior) or tables (behavior.TrialSet, Clusters)
    restrict: Mapping[str, str] = field(default_factory=dict)  # subject / lab / session -> value
    max_calls: int | None = None  # (count) at most this many makes per table and pass
    stale_timeout: float | None = None  # (s) older reservations are a dead worker's; None: settings default
    retry_budget: float = float(DEFAULT_TRANSIENT_BUDGET_S)  # (s) a lost server is retried this long
    log_keys: bool = False  # log every key made
    loop: bool = False  # repeat passes until duration or SIGTERM
    sleep: float = DEFAULT_SLEEP_S  # (s) pause between passes with loop
    duration: float | None = None  # (s) with loop: stop starting passes after this long

    def __post_init__(self) -> None:
        if self.retry_budget < 0:
            raise ConfigError(f"--retry-budget {self.retry_budget}: must be >= 0 (seconds)")
        if self.sleep < 0 or (self.duration is not None and self.duration <= 0):
            raise ConfigError("--sleep must be >= 0 and --duration > 0 (seconds)")
        if self.duration is not None and not self.loop:
            raise ConfigError("--duration goes with --loop")
        if self.max_calls is not None and self.max_calls < 1:
            raise ConfigError(f"--max-calls {self.max_calls}: must be at least 1")

    def replace(self, **changes) -> WorkerOptions:
        return dataclasses.replace(self, **changes)

    def argv(self) -> list[str]:
        """These options as ``iblpipe populate`` flags (defaults left out), for a worker in another process."""
        out: list[str] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            if value == default and f.name != "tables":
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                out.append(flag)
            elif f.name == "tables":
                out += [flag, ",".join(value)]
            elif f.name == "restrict":
                out += [flag, ",".join(f"{k}={v}" for k, v in value.items())]
            else:
                out += [flag, str(value)]
        return out
