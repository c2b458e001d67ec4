"""Sweep files as YAML with lines: every value carries ``file:line``, and problems are collected
so that one run reports all of them (what to fix, where)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from farm.errors import UserError

MAX_REPORTED = 12  # distinct problems listed before "... and N more"


class SweepError(UserError):
    """A sweep that cannot run: every problem found, one per line, each with its location."""


@dataclass(frozen=True)
class V:
    """A value read from YAML or the command line, with where it came from (``file:line``)."""

    value: Any
    where: str


class Problems:
    """Distinct problems, in the order found."""

    def __init__(self) -> None:
        self.items: dict[str, None] = {}

    def add(self, where: str, message: str) -> None:
        self.items.setdefault(f"{where}: {message}" if where else message)

    def raise_if_any(self) -> None:
        if self.items:
            lines = list(self.items)
            extra = len(lines) - MAX_REPORTED
            text = "\n  ".join(lines[:MAX_REPORTED])
            if extra > 0:
                text += f"\n  ... and {extra} more"
            raise SweepError(text if len(lines) == 1 else f"{len(lines)} problems:\n  {text}")


def _to_v(node: yaml.Node, path: str, constructor: yaml.SafeLoader, problems: Problems) -> V:
    """A node tree as nested :class:`V` (dict / list / scalar), each with its line."""
    where = f"{path}:{node.start_mark.line + 1}"
    if isinstance(node, yaml.MappingNode):
        out: dict[str, V] = {}
        keys: dict[str, V] = {}
        for knode, vnode in node.value:
            key = _to_v(knode, path, constructor, problems)
            if not isinstance(key.value, str):
                problems.add(key.where, f"keys must be names, got {key.value!r}")
                continue
            if key.value in out:
                problems.add(
                    key.where, f"duplicate key {key.value!r} (also at {keys[key.value].where})"
                )
                continue
            keys[key.value] = key
            out[key.value] = _to_v(vnode, path, constructor, problems)
        return V(out, where)
    if isinstance(node, yaml.SequenceNode):
        return V([_to_v(n, path, constructor, problems) for n in node.value], where)
    return V(constructor.construct_object(node), where)


def parse_yaml(text: str, path: str) -> V | None:
    problems = Problems()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark else path
        raise SweepError(f"{where}: invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise SweepError(f"{path}: invalid YAML: {e}") from None
    if node is None:
        return None
    try:
        root = _to_v(node, path, yaml.SafeLoader(""), problems)
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else path
        raise SweepError(f"{where}: invalid value: {e.problem}") from None
    problems.raise_if_any()
    return root


def plain(v: Any) -> Any:
    """A :class:`V` tree as plain Python data."""
    if isinstance(v, V):
        return plain(v.value)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v
