"""``farm``: the command line. Commands parse their flags and delegate; each lives in
``farm/commands/<name>.py`` with ``register(subparsers)`` that sets ``func`` on its parser."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from engine.errors import EngineInputError
from farm.errors import EXIT_ENVIRONMENT, EXIT_USER, EnvironmentFailure, UserError
from farm.files import is_disk_full
from recorder.errors import RecorderError

COMMANDS = (
    "run",
    "sweep",
    "plot",
    "report",
    "replay",
    "trace",
    "grace",
    "kernel",
    "findings",
    "bench",
)


class DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, taken from the parser: a default is never
    typed into a help text (one that already speaks of its default is left as it is)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        quiet = action.default in (None, False, argparse.SUPPRESS) or not action.option_strings
        return text if quiet or "default" in text else f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """The parser of ``farm`` and of every command: defaults shown by :class:`DefaultsFormatter`."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    parser = Parser(
        prog="farm",
        description="ptfarm: sweeps of Linux page-table allocation schemes on an emulated MMU, "
        "run locally or on a Ray cluster, with tidy results, figures and reports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('ptfarm')}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"farm.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may also follow flags (`farm run S.yaml --workers 2 grace=0`)
    late = [a for a in extra if "=" in a and not a.startswith("-")]
    if late and hasattr(args, "overrides"):
        args.overrides = [*(args.overrides or []), *late]
        extra = [a for a in extra if a not in late]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except (UserError, EngineInputError, RecorderError) as e:
        print(f"farm {args.verb}: error: {e}", file=sys.stderr)
        return EXIT_USER
    except EnvironmentFailure as e:
        print(f"farm {args.verb}: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # `farm ... | head`: the reader has gone, nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except OSError as e:  # a full disk anywhere else: one line, no traceback
        if not is_disk_full(e):
            raise
        where = f" writing {e.filename}" if getattr(e, "filename", None) else ""
        print(
            f"farm {args.verb}: error: no space left on the device{where}; free some "
            "space there and run the same command again",
            file=sys.stderr,
        )
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        print(f"farm {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
