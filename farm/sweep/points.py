"""What a sweep is once validated: its points (resolved parameter sets) and rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from farm.sweep.identity import row_seed


@dataclass(frozen=True)
class Shape:
    """What lanes of one engine call (and one event block) must share; hashable, so it keys
    groups of lanes, event blocks and generated streams."""

    strategy: str
    n_slots: int
    page_size: int
    table_size: int
    workload: str
    workload_items: tuple[tuple[str, Any], ...]  # the workload parameters, sorted by name
    ticks: int  # events per lane (0 for a replayed trace)

    @classmethod
    def of(cls, params: Mapping[str, Any], workload_params: Mapping[str, Any]) -> Shape:
        """The shape of a point's resolved ``params`` and ``workload_params``."""
        return cls(
            params["strategy"],
            params["n_slots"],
            params["page_size"],
            params["table_size"],
            params["workload"],
            tuple(sorted(workload_params.items())),
            params.get("ticks", 0),
        )

    @property
    def workload_params(self) -> dict[str, Any]:
        """The workload parameters as a dict."""
        return dict(self.workload_items)

    @property
    def stream(self) -> tuple[str, tuple[tuple[str, Any], ...], int, int]:
        """The part a lane's events depend on besides its seed: workload, its parameters,
        n_slots and ticks (shapes of other strategies or geometries share their streams)."""
        return (self.workload, self.workload_items, self.n_slots, self.ticks)


@dataclass(frozen=True)
class Point:
    """One resolved parameter set: ``params`` holds only the parameters this point has."""

    params: dict[str, Any]
    workload_params: dict[str, Any]
    id: str
    name: str
    timed: bool = False  # its streams carry times: grace is in microseconds
    engine: Any = field(default=None, compare=False)  # its engine.Params, built once

    @cached_property
    def shape(self) -> Shape:
        """What lanes of one engine call (and one event block) must share."""
        return Shape.of(self.params, self.workload_params)


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
