"""``farm --version`` and the help texts: every default shown is the parser's own."""

from __future__ import annotations

import argparse
from importlib.metadata import version

import pytest

from farm.cli import build_parser, main


def test_cli__version_is_the_installed_package_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"farm {version('ptfarm')}"


def commands() -> dict[str, argparse.ArgumentParser]:
    """Every command, nested ones too (``kernel corpus``), by its words."""
    out: dict[str, argparse.ArgumentParser] = {}
    todo = [("", build_parser())]
    while todo:
        words, parser = todo.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    out[f"{words} {name}".strip()] = child
                    todo.append((f"{words} {name}".strip(), child))
    return out


@pytest.mark.parametrize("name", list(commands()))
def test_cli__every_default_in_a_help_text_is_the_parsers_own(name):
    parser = commands()[name]
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
            continue
        if "default" not in (action.help or "") and action.help != argparse.SUPPRESS:
            assert f"(default: {action.default})" in text, (name, action.option_strings)
        else:  # a default the help names is the parser's own (%(default)s), not typed again
            assert f"default {action.default}" not in (action.help or ""), (name, action.help)
