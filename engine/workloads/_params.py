"""Parameters shared by several workloads: one definition each, so a name means the same thing
everywhere (a workload may change only the default, with :func:`dataclasses.replace`)."""

from __future__ import annotations

from engine.params import ParamSpec

OCCUPANCY = ParamSpec.of(
    "occupancy", 0.25, float, "target fraction of the n_slots slots that are mapped", 1e-9, 1.0
)
REGION_SLOTS = ParamSpec.of(
    "region_slots", 8.0, float, "mean length of a region in slots (geometric, >= 1)", 1.0, 2**31
)
FILL = ParamSpec.of(
    "fill", 0.75, float, "fraction of a region's slots that get faulted (at least one)", 0.0, 1.0
)
LIFETIME = ParamSpec.of(
    "lifetime",
    4000.0,
    float,
    "mean ticks from a region's mmap to its munmap (exponential)",
    0.0,
    1e12,
)
IMMEDIATE_FREES = ParamSpec.of(
    "immediate_frees",
    0.02,
    float,
    "fraction of unmapped tables freed with `free` (race loser) instead of `rcu_free`",
    0.0,
    1.0,
)
EXTENT = ParamSpec.of(
    "extent", 1.0, float, "fraction of the address space covered, from slot 0", 1e-9, 1.0
)
TEARDOWN = ParamSpec.of(
    "teardown",
    "exit",
    str,
    "how each round ends: `exit` (mm teardown) or `munmap` (rcu_free of each slot, ascending)",
    choices=("exit", "munmap"),
)
