"""Errors the farm reports in one message, without a traceback.

``UserError``: a mistake in what the user asked for (exit code 2). ``EnvironmentFailure``: the
request was right but the machine could not carry it out (a full disk; exit code 3); the
message says what failed, where, and what to do.
"""

from __future__ import annotations

EXIT_USER = 2
EXIT_ENVIRONMENT = 3


class UserError(Exception):
    """A mistake in what the user asked for (a file, a flag, a value): the message says what."""


class EnvironmentFailure(Exception):
    """The machine failed the run (a full disk): what, where, what to do; exit code 3."""

    exit_code = EXIT_ENVIRONMENT
