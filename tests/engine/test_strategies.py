"""The strategy registry: names, plug-ins, and what its modules import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from toy_strategy import NAME as TOY

import engine
from engine import ParamError, all_strategies, get_strategy


def test_strategies__unknown_strategy_names_the_valid_ones():
    with pytest.raises(ParamError, match="did you mean pool") as e:
        get_strategy("pol")
    assert e.value.param == "strategy"
    assert TOY in str(e.value)


def test_strategies__toy_plugin_reaches_the_property_tests():
    # the property tests are parametrized over every registered strategy
    assert TOY in all_strategies()


def runtime_imports(path: Path) -> set[str]:
    """The engine modules a file imports when it runs (not those under TYPE_CHECKING)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("engine")}


def test_strategies__registry_and_reference_never_import_params():
    # params validates against the registry (it imports engine.strategies); the registry
    # imports the reference modules: none of them may import params back (no circle)
    root = Path(engine.__file__).parent
    for path in [root / "strategies.py", *sorted((root / "reference").glob("*.py"))]:
        assert "engine.params" not in runtime_imports(path), path.name
