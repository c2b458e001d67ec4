"""`farm sweep` (placeholder: registered so the CLI loads; built by its own issue)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="(not built yet)")
    p.set_defaults(func=lambda args: print("farm sweep: not built yet") or 1)
