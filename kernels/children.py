"""Children that die with the command that started them, whatever kills it."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def child_dies_with_parent() -> None:
    """``preexec_fn``: the child gets SIGKILL when its parent dies (``PR_SET_PDEATHSIG``).

    The signal is tied to the thread that forked the child: start long children from the
    thread that lives as long as the command (the main thread).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
