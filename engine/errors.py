"""Errors that describe bad user input (a trace, a parameter): shown to users, never tracebacks."""

from __future__ import annotations


class EngineInputError(ValueError):
    """Bad input to the engine: the message is complete and meant for the user."""


class ParamError(EngineInputError):
    """A parameter value the model does not allow (geometry, grace, pool size, ...).

    ``param`` names the parameter at fault (None when no single one is), so that a sweep can
    point at the line that set it."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        self.param = param
        super().__init__(message)


class TraceError(EngineInputError):
    """An invalid trace: names the file, the 1-based line and what is wrong."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.reason = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class InvariantError(AssertionError):
    """An ENGINE.md section 6 invariant broke (debug mode, reference or core): names the lane or
    strategy, the tick and the rule."""
