"""The recorder's one error: a mistake or an impossibility the user can act on (printed as one
line, exit code 2)."""

from __future__ import annotations


class RecorderError(Exception):
    """What cannot be recorded or read, and why (the message says what to do)."""
