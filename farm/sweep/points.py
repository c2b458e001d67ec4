"""What a sweep is once validated: its points (resolved parameter sets) and rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from farm.sweep.identity import row_seed


@dataclass(frozen=True)
class Point:
    """One resolved parameter set: ``params`` holds only the parameters this point has."""

    params: dict[str, Any]
    workload_params: dict[str, Any]
    id: str
    name: str
    timed: bool = False  # its streams carry times: grace is in microseconds
    engine: Any = field(default=None, compare=False)  # its engine.Params, built once

    @property
    def shape(self) -> tuple:
        """What lanes of one engine call (and one event block) must share."""
        p = self.params
        return (
            p["strategy"],
            p["n_slots"],
            p["page_size"],
            p["table_size"],
            p["workload"],
            tuple(sorted(self.workload_params.items())),
            p.get("ticks"),
        )


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its points in file order, and the resolved definition as run."""

    name: str
    description: str
    replicates: int
    seed: int
    points: list[Point]
    definition: dict[str, Any]  # plain data: a sweep file equivalent to file + overrides
    source: str
    overrides: tuple[str, ...] = ()
    varying: tuple[str, ...] = field(default=())

    def rows(self) -> list[tuple[Point, int, int]]:
        """Every (point, replicate, seed) of the sweep, in order."""
        return [
            (p, r, row_seed(p.params, p.workload_params, self.seed, r))
            for p in self.points
            for r in range(self.replicates)
        ]
