"""Children that die with the command that started them, whatever kills it."""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded here: no dlopen in a forked child
_parent = [os.getpid()]  # the pid that forks, set just before each fork (below)
os.register_at_fork(before=lambda: _parent.__setitem__(0, os.getpid()))


def child_dies_with_parent() -> None:
    """``preexec_fn``: the child gets SIGKILL when its parent dies (``PR_SET_PDEATHSIG``, kept
    across ``exec``); a parent already gone when the child arms it (killed between fork and
    here) makes the child kill itself.

    The signal is tied to the thread that forked the child: start long children from the
    thread that lives as long as the command (the main thread).
    """
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != _parent[0]:
        os.kill(os.getpid(), signal.SIGKILL)
