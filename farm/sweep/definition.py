"""Sweep files (FARM.md section 2): parse, apply overrides, expand and validate every point.

Nothing here runs anything. :func:`load_sweep` turns a YAML file plus ``key=value`` overrides
into a :class:`Sweep` whose points are fully resolved and validated, or raises
:class:`SweepError` naming the file, the line, the parameter and what is allowed.

Expansion: ``base`` is shared by every point; ``grid`` is a map (product of its lists) or a list
of maps (union of their products); ``zip`` holds equal-length lists advanced together, crossed
with the grid. A parameter a point does not have (``pool_pages`` for ``ppc-frag``, a workload
parameter of another workload, ``ticks`` for a replayed trace) is dropped when it comes from
``base``, and is an error when it comes from ``grid``/``zip`` (it would make duplicate points).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.errors import ParamError
from engine.params import ALIASES, PARAM_SPECS, STREAM_SPECS, applies, resolve_aliases
from engine.strategies import all_strategies, closest, get_strategy
from farm.sweep.identity import ENGINE_KEYS, canonical_name, point_id
from farm.sweep.points import Point, Sweep
from farm.sweep.source import Problems, SweepError, V, parse_yaml, plain

TOP_KEYS: tuple[str, ...] = ("name", "description", "replicates", "seed", "base", "grid", "zip")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


# ----------------------------------------------------------------------------- names


def workload_param_names() -> dict[str, set[str]]:
    """Every workload parameter name -> the workloads that declare it."""
    from engine.workloads import WORKLOADS, _load_all

    _load_all()
    names: dict[str, set[str]] = {}
    for w in WORKLOADS.values():
        for p in w.params_spec:
            names.setdefault(p.name, set()).add(w.name)
    return names


def parameter_names() -> list[str]:
    """Every name a sweep may set: engine parameters and their aliases, stream parameters,
    workload parameters (all from the one schema, ``engine.params``)."""
    return [*ENGINE_KEYS, *ALIASES, *STREAM_SPECS, *sorted(workload_param_names())]


def _check_name(key: V, valid: Sequence[str], problems: Problems) -> bool:
    if key.value in valid:
        return True
    problems.add(
        key.where,
        f"unknown parameter {key.value!r}{closest(key.value, tuple(valid))}; "
        f"valid: {', '.join(valid)}",
    )
    return False


# ----------------------------------------------------------------------------- the definition


@dataclass
class _Definition:
    """The sweep file as data, before expansion: what overrides edit."""

    name: V
    description: V
    replicates: V
    seed: V
    base: dict[str, V]  # key -> scalar V
    grid: list[dict[str, tuple[str, list[V]]]]  # key -> (where of key, values)
    zip: dict[str, tuple[str, list[V]]]
    has_grid: bool

    def plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name.value,
            "description": self.description.value,
            "replicates": self.replicates.value,
            "seed": self.seed.value,
            "base": {k: v.value for k, v in self.base.items()},
        }
        if self.has_grid:
            grid = [{k: [x.value for x in vals] for k, (_, vals) in e.items()} for e in self.grid]
            out["grid"] = grid[0] if len(grid) == 1 else grid
        if self.zip:
            out["zip"] = {k: [x.value for x in vals] for k, (_, vals) in self.zip.items()}
        return out


def _scalar(v: V, what: str, problems: Problems) -> bool:
    if isinstance(v.value, dict | list):
        problems.add(v.where, f"{what} must be a single value, got a {type(plain(v)).__name__}")
        return False
    return True


def _axis(key: V, raw: V, valid: Sequence[str], problems: Problems, section: str) -> list[V] | None:
    """The list of values of one grid/zip key (a scalar counts as a one-value list)."""
    if not _check_name(key, valid, problems):
        return None
    values = raw.value if isinstance(raw.value, list) else [raw]
    if not values:
        problems.add(raw.where, f"{section} parameter {key.value!r} has an empty list (no points)")
        return None
    ok = all(_scalar(x, f"each value of {key.value!r}", problems) for x in values)
    return values if ok else None


def _definition(root: V | None, path: str, problems: Problems) -> _Definition | None:
    where0 = f"{path}:1"
    if root is None:
        problems.add(path, "the sweep file is empty")
        return None
    if not isinstance(root.value, dict):
        problems.add(
            root.where,
            "a sweep file is a map of name, description, replicates, seed, base, grid, zip",
        )
        return None
    top: dict[str, V] = root.value
    for k, v in top.items():
        if k not in TOP_KEYS:
            problems.add(
                v.where, f"unknown key {k!r}{closest(k, TOP_KEYS)}; valid: {', '.join(TOP_KEYS)}"
            )
    valid = parameter_names()
    name = top.get("name", V(Path(path).name.split(".")[0], where0))
    if not isinstance(name.value, str) or not _NAME_RE.fullmatch(name.value):
        problems.add(
            name.where, f"name must be a folder name (letters, digits, . _ -), got {name.value!r}"
        )
    description = top.get("description", V("", where0))
    if not isinstance(description.value, str):
        problems.add(description.where, "description must be text")
    replicates = top.get("replicates", V(1, where0))
    if (
        isinstance(replicates.value, bool)
        or not isinstance(replicates.value, int)
        or not 1 <= replicates.value <= 1_000_000
    ):
        problems.add(
            replicates.where, f"replicates must be an integer >= 1, got {plain(replicates)!r}"
        )
    seed = top.get("seed", V(0, where0))
    if (
        isinstance(seed.value, bool)
        or not isinstance(seed.value, int)
        or not 0 <= seed.value < 2**63
    ):
        problems.add(seed.where, f"seed must be an integer in [0, 2^63), got {plain(seed)!r}")

    base: dict[str, V] = {}
    if "base" in top:
        raw = top["base"]
        if not isinstance(raw.value, dict):
            problems.add(raw.where, "base must be a map of parameter: value")
        else:
            for k, v in raw.value.items():
                key = V(k, v.where)
                if _check_name(key, valid, problems) and _scalar(
                    v, f"base value of {k!r} (put lists in grid)", problems
                ):
                    base[k] = v

    grid: list[dict[str, tuple[str, list[V]]]] = []
    has_grid = "grid" in top
    if has_grid:
        raw = top["grid"]
        entries = raw.value if isinstance(raw.value, list) else [raw]
        if not entries or raw.value is None:
            problems.add(raw.where, "empty grid (no points); remove grid or give it parameters")
            entries = []
        for entry in entries:
            if not isinstance(entry.value, dict):
                problems.add(
                    entry.where, "a grid is a map of parameter: [values] or a list of such maps"
                )
                continue
            if not entry.value:
                problems.add(entry.where, "empty grid entry (no points)")
                continue
            axes: dict[str, tuple[str, list[V]]] = {}
            for k, v in entry.value.items():
                values = _axis(V(k, v.where), v, valid, problems, "grid")
                if values is not None:
                    axes[k] = (v.where, values)
            grid.append(axes)

    zipped: dict[str, tuple[str, list[V]]] = {}
    if "zip" in top:
        raw = top["zip"]
        if not isinstance(raw.value, dict) or not raw.value:
            problems.add(
                raw.where, "zip must be a map of parameter: [values] (lists of equal length)"
            )
        else:
            for k, v in raw.value.items():
                values = _axis(V(k, v.where), v, valid, problems, "zip")
                if values is not None:
                    zipped[k] = (v.where, values)
            lengths = {k: len(vals) for k, (_, vals) in zipped.items()}
            if len(set(lengths.values())) > 1:
                detail = ", ".join(f"{k} has {n}" for k, n in lengths.items())
                problems.add(raw.where, f"zip lists must have equal lengths: {detail}")
            for k, (w, _) in zipped.items():
                for entry in grid:
                    if k in entry:
                        problems.add(w, f"{k!r} is in both zip and grid (at {entry[k][0]})")
    return _Definition(name, description, replicates, seed, base, grid, zipped, has_grid)


# ----------------------------------------------------------------------------- overrides


def _parse_override(
    text: str, valid: Sequence[str], problems: Problems
) -> tuple[str, list[V]] | None:
    where = f"command line override {text!r}"
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or not key:
        problems.add(where, "an override is key=value or key=a,b,c")
        return None
    if not _check_name(V(key, where), valid, problems):
        return None
    if not rest.strip():
        problems.add(where, f"no value for {key!r}")
        return None
    values: list[V] = []
    for piece in rest.split(","):
        try:
            value = yaml.safe_load(piece) if piece.strip() else None
        except yaml.YAMLError:
            value = piece
        if value is None or isinstance(value, dict | list):
            problems.add(where, f"{piece!r} is not a single value for {key!r}")
            return None
        values.append(V(value, where))
    return key, values


def _apply_overrides(d: _Definition, overrides: Sequence[str], problems: Problems) -> None:
    """``key=value`` sets a key everywhere; ``key=a,b,c`` replaces its list where it is in the
    grid or zip, or crosses the whole grid with it when it is only in base or nowhere."""
    valid = parameter_names()
    for text in overrides:
        parsed = _parse_override(text, valid, problems)
        if parsed is None:
            continue
        key, values = parsed
        where = values[0].where
        if key in d.zip:
            n = len(d.zip[key][1])
            if len(values) == 1:
                values = values * n
            if len(values) != n:
                problems.add(where, f"{key!r} is a zip list of {n} values; give 1 or {n}")
                continue
            d.zip[key] = (where, values)
            continue
        if len(values) == 1:
            d.base[key] = values[0]
            for entry in d.grid:
                entry.pop(key, None)
            continue
        d.base.pop(key, None)
        in_grid = [e for e in d.grid if key in e]
        for entry in in_grid or d.grid:
            entry[key] = (where, values)
        if not d.grid:
            d.grid = [{key: (where, values)}]
            d.has_grid = True


# ----------------------------------------------------------------------------- expansion


_ORIGIN_BASE, _ORIGIN_AXIS = "base", "axis"


def _assignments(d: _Definition) -> Iterable[dict[str, tuple[V, str]]]:
    """Every combination: key -> (value, origin), base overlaid by a grid entry and a zip row."""
    zip_keys = list(d.zip)
    zip_rows = list(zip(*(d.zip[k][1] for k in zip_keys), strict=True)) if zip_keys else [()]
    entries = d.grid or [{}]
    for entry in entries:
        keys = list(entry)
        for combo in itertools.product(*(entry[k][1] for k in keys)):
            for zrow in zip_rows:
                a = {k: (v, _ORIGIN_BASE) for k, v in d.base.items()}
                a.update({k: (v, _ORIGIN_AXIS) for k, v in zip(keys, combo, strict=True)})
                a.update({k: (v, _ORIGIN_AXIS) for k, v in zip(zip_keys, zrow, strict=True)})
                yield a


def _blame(error: ParamError, a: Mapping[str, tuple[V, str]], fallback: str) -> tuple[str, str]:
    """(where, parameter) of an engine error: the line that set the parameter it names."""
    key = error.param if error.param in a else fallback
    return (a[key][0].where, key) if key in a else ("", key)


def _resolve(
    a: dict[str, tuple[V, str]],
    path: str,
    problems: Problems,
    wl_names: Mapping[str, set[str]],
    cache: dict,
) -> tuple[dict[str, Any], Any] | None:
    """The resolved parameter set of one assignment and its ``engine.Params`` (built once, here),
    or None after recording its problems."""
    from engine import Params
    from engine.workloads import get_workload, is_timed, resolve

    for required in ("strategy", "workload", "n_slots"):
        if required not in a:
            problems.add(path, f"no {required!r}: set it in base or grid")
            return None
    strategy_v, workload_v = a["strategy"][0], a["workload"][0]
    try:
        strategy = get_strategy(strategy_v.value)
    except ParamError as e:
        problems.add(strategy_v.where, str(e))
        return None
    try:
        workload = get_workload(STREAM_SPECS["workload"].check(workload_v.value))
    except ParamError as e:
        problems.add(workload_v.where, str(e))
        return None
    spec = {p.name for p in workload.params_spec}

    def not_applying(key: str) -> str | None:
        """None when ``key`` applies to this point, else why not."""
        if key in PARAM_SPECS and not applies(key, strategy.name):
            users = [s for s in all_strategies() if applies(key, s)]
            return f"strategy {strategy.name} (it applies to {', '.join(users)} only)"
        if key == "ticks" and not workload.uses_ticks:
            return f"workload {workload.name} (a replayed trace has its own length)"
        if key in wl_names and key not in spec:
            return f"workload {workload.name} (it applies to {', '.join(sorted(wl_names[key]))})"
        return None

    kept: dict[str, tuple[V, str]] = {}
    bad = False
    for key, (v, origin) in a.items():
        why = not_applying(key)
        if why is None:
            kept[key] = (v, origin)
        elif origin == _ORIGIN_AXIS:
            problems.add(
                v.where,
                f"parameter {key!r} does not apply to {why}; crossing them would "
                "make duplicate points: move it to a grid entry of its own",
            )
            bad = True
    if bad:
        return None

    engine_kw = {k: kept[k][0].value for k in ENGINE_KEYS if k in kept}
    aliased = [k for k in kept if k in ALIASES]
    try:  # grace_ms: the same point as grace in microseconds (one id)
        engine_kw = resolve_aliases({**engine_kw, **{k: kept[k][0].value for k in aliased}})
    except ParamError as e:
        problems.add(kept[str(e.param)][0].where, f"parameter {e.param!r}: {e}")
        return None
    try:
        params = Params(**engine_kw)
    except ParamError as e:
        where, key = _blame(e, kept, "strategy")
        problems.add(where or path, f"parameter {key!r}: {e}")
        return None
    except TypeError as e:  # unhashable or odd values
        problems.add(path, f"bad parameter value: {e}")
        return None

    wl_raw = {k: kept[k][0].value for k in spec if k in kept}
    ck = (workload.name, tuple(sorted((k, repr(v)) for k, v in wl_raw.items())))
    if ck not in cache:
        try:
            cache[ck] = resolve(workload.name, wl_raw)
        except ParamError as e:
            cache[ck] = e
    wl = cache[ck]
    if isinstance(wl, ParamError):
        where, key = _blame(wl, kept, "workload")
        problems.add(where or path, f"parameter {key!r}: {wl}")
        return None

    out: dict[str, Any] = {k: getattr(params, k) for k in ENGINE_KEYS if applies(k, strategy.name)}
    out["workload"] = workload.name
    if workload.uses_ticks:
        if "ticks" not in kept:
            problems.add(
                path,
                f"no 'ticks' (events per lane) for workload {workload.name}: "
                "set it in base or grid",
            )
            return None
        tv = kept["ticks"][0]
        try:
            out["ticks"] = STREAM_SPECS["ticks"].check(tv.value)
        except ParamError as e:
            problems.add(tv.where, f"parameter 'ticks': {e}")
            return None
    out.update(wl)
    try:
        timed = is_timed(workload.name, wl)
    except ParamError as e:
        problems.add(kept[e.param][0].where if e.param in kept else path, str(e))
        return None
    for alias in aliased:
        if not timed:
            param = ALIASES[alias][0]
            problems.add(
                kept[alias][0].where,
                f"{alias} for {strategy.name} on workload "
                f"{workload.name}: its stream is untimed ({PARAM_SPECS[param].unit}, "
                f"not {PARAM_SPECS[param].timed_unit}); give event_rate (events per "
                f"second), replay timed traces, or use {param}",
            )
            return None
    return out, params


def load_sweep(path: str | Path, overrides: Sequence[str] = ()) -> Sweep:
    """Read, override, expand and validate a sweep file; :class:`SweepError` on any problem."""
    path_s = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepError(f"{path_s}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SweepError(f"{path_s}: cannot read: {e}") from None
    return parse_sweep(text, path_s, overrides)


def parse_sweep(text: str, path: str = "<sweep>", overrides: Sequence[str] = ()) -> Sweep:
    """:func:`load_sweep` on text already read."""
    from engine.workloads import is_timed

    problems = Problems()
    d = _definition(parse_yaml(text, path), path, problems)
    if d is not None:
        _apply_overrides(d, overrides, problems)
    problems.raise_if_any()
    assert d is not None

    wl_names = workload_param_names()
    cache: dict = {}
    resolved: list[tuple[dict[str, Any], set[str], Any]] = []
    seen: set[str] = set()
    for a in _assignments(d):
        got = _resolve(a, path, problems, wl_names, cache)
        if got is None:
            continue
        params, engine_params = got
        key = point_id(params)
        if key not in seen:  # overlapping union entries or repeated values: one point
            seen.add(key)
            workload_keys = set(params) - set(ENGINE_KEYS) - set(STREAM_SPECS)
            resolved.append((params, workload_keys, engine_params))
    problems.raise_if_any()

    all_keys = sorted({k for p, _, _ in resolved for k in p})
    # A key varies when the points that have it do not all agree (whether a point has a key
    # follows from its strategy and workload, which every name shows).
    varying = tuple(k for k in all_keys if len({repr(p[k]) for p, _, _ in resolved if k in p}) > 1)
    points = [
        Point(
            params=p,
            workload_params={k: p[k] for k in sorted(wk)},
            id=point_id(p),
            name=canonical_name(p, varying),
            timed=is_timed(p["workload"], {k: p[k] for k in sorted(wk)}),
            engine=e,
        )
        for p, wk, e in resolved
    ]
    return Sweep(
        name=d.name.value,
        description=d.description.value,
        replicates=d.replicates.value,
        seed=d.seed.value,
        points=points,
        definition=d.plain(),
        source=path,
        overrides=tuple(overrides),
        varying=varying,
    )


def dump_definition(sweep: Sweep) -> str:
    """The resolved sweep as a YAML sweep file (comments record the source and overrides)."""
    head = [f"# resolved from {sweep.source}"]
    if sweep.overrides:
        head.append(f"# overrides: {' '.join(sweep.overrides)}")
    head.append(f"# {len(sweep.points)} points x {sweep.replicates} replicates")
    body = yaml.safe_dump(sweep.definition, sort_keys=False, default_flow_style=None)
    return "\n".join(head) + "\n" + body
