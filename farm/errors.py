"""User-facing errors of the farm: printed as one clear message, exit code 2, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user asked for (a file, a flag, a value): the message says what."""
