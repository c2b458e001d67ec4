"""Execution backends behind one small protocol (:class:`Backend`), chosen by name:
``serial`` (in-process) and ``ray`` (embedded local instance or an existing cluster). Each takes
(task, events) pairs and yields :class:`farm.run.tasks.TaskResult` as tasks finish; none writes a
file. Each backend takes only its own options (:func:`make_backend` rejects the others by name).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from engine.events import LaneEvents
from farm.errors import UserError
from farm.run.tasks import Task, TaskResult, failed_result, run_task

Job = tuple[Task, LaneEvents | None]
MAX_RETRIES = 3  # Ray resubmits a task whose worker process or node died this many times


class Backend(Protocol):
    """Where tasks run. ``workers``: how many run at once (tasks are sized by it)."""

    name: str
    workers: int

    def describe(self) -> str:
        """One line for the summary and the manifest."""
        ...

    def warm(self, strategies: Sequence[str]) -> None:
        """Make the kernels of ``strategies`` ready where the tasks will run."""
        ...

    def run(self, jobs: Iterable[Job]) -> Iterator[TaskResult]:
        """Run every job (taken from ``jobs`` as workers free up); yield each result as it
        arrives (in any order)."""
        ...

    def close(self) -> None:
        """Release what the backend started (it is not used afterwards)."""
        ...


class SerialBackend:
    """Runs tasks one after another in this process (debugging, profiling, tests)."""

    name = "serial"

    def __init__(self) -> None:
        self.workers = 1

    def describe(self) -> str:
        return "serial (in-process)"

    def warm(self, strategies: Sequence[str]) -> None:
        """Nothing to do: the first task compiles (or loads) its kernel."""

    def run(self, jobs: Iterable[Job]) -> Iterator[TaskResult]:
        for task, events in jobs:
            yield run_task(task, events)

    def close(self) -> None:
        """Nothing to release."""


def _ray_task(task: Task, events: LaneEvents | None) -> TaskResult:
    """The body of a Ray task (workers running one are titled ``ray::_ray_task``)."""
    return run_task(task, events)


def _ray_warm(strategy: str) -> None:
    """Make one strategy's lane loop ready on a node (a plug-in's is built into the node's
    cache; see :meth:`RayBackend.warm`)."""
    from engine.core import prepare

    prepare(strategy)


class RayBackend:
    """Ray: ``address=None`` starts a private local instance with ``workers`` CPUs (the default
    mode); otherwise connects to the cluster at ``address`` (``HOST:PORT`` or ``ray://``).

    An instance already initialised in this process (tests, notebooks) is reused as it is.
    Token authentication is left exactly as the cluster has it: give the token with
    ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``.
    """

    name = "ray"

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        working_dir: str | None = None,
    ) -> None:
        import ray

        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
            os.environ.setdefault("RAY_enable_output_error_log_if_still_retry", "0")
            runtime_env = _runtime_env(working_dir)
            said: Callable[[], str] = str
            try:
                if address is None:
                    ray.init(
                        address="local",
                        num_cpus=workers or os.cpu_count() or 1,
                        include_dashboard=False,
                        runtime_env=runtime_env,
                        **quiet,
                    )
                else:
                    if address.startswith("ray://"):
                        _need_client()
                    probe_address(address)
                    with _stderr_kept() as said:
                        ray.init(address=address, runtime_env=runtime_env, **quiet)
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - a connection problem is the user's to fix
                if address and "InvalidAuthToken" in said():
                    raise UserError(AUTH_HELP.format(address=address)) from None
                where = address or "a local Ray instance"
                raise UserError(f"cannot start or reach {where}: {type(e).__name__}: {e}") from None
            self._owned = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = min(cpus, workers) if workers else cpus
        # Tasks in flight: two per worker keeps every CPU busy between tasks; on a cluster whose
        # CPUs are not all ours to take (--workers N), exactly N, so that at most N run at once.
        self.window = self.workers if workers and address else max(2 * self.workers, 4)
        self.address = address
        # SPREAD: short tasks would otherwise all queue on the head node (it leases its own
        # worker again and again, and nothing spills to the other nodes).
        self._remote = ray.remote(
            max_retries=MAX_RETRIES, num_cpus=1, scheduling_strategy="SPREAD"
        )(_ray_task)
        self._warm = ray.remote(max_retries=MAX_RETRIES, num_cpus=1)(_ray_warm)

    def describe(self) -> str:
        nodes = sum(1 for n in self._ray.nodes() if n.get("Alive"))
        where = self.address or "local"
        return f"ray ({where}, {nodes} node{'s' * (nodes != 1)}, {self.workers} workers)"

    def warm(self, strategies: Sequence[str]) -> None:
        """One task per strategy makes its lane loop ready (the engine's are built already; a
        plug-in's is built once into the node's cache, and the other workers of the node load
        it, instead of every worker building it)."""
        self._ray.get([self._warm.remote(s) for s in strategies])

    def run(self, jobs: Iterable[Job]) -> Iterator[TaskResult]:
        """Keep ``window`` tasks in flight, taking the next job only when one finishes;
        yield results as they arrive."""
        ray = self._ray
        queue = iter(jobs)
        pending: dict[Any, Task] = {}
        more = True
        while more or pending:
            while more and len(pending) < self.window:
                job = next(queue, None)
                if job is None:
                    more = False
                    break
                task, events = job
                ref = self._remote.remote(task, None if events is None else ray.put(events))
                pending[ref] = task
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as e:  # noqa: BLE001 - retries exhausted: the lanes fail
                    yield failed_result(task, f"{type(e).__name__}: {str(e).splitlines()[0]}")

    def close(self) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()


AUTH_HELP = (
    "the Ray cluster at {address} wants its authentication token: copy the head node's "
    "~/.ray/auth_token to this machine and run with RAY_AUTH_MODE=token and "
    "RAY_AUTH_TOKEN_PATH=/path/to/auth_token (or RAY_AUTH_TOKEN=<the token>); see README, "
    "'Authentication token'"
)


@contextmanager
def _stderr_kept() -> Iterator[Callable[[], str]]:
    """Keep what Ray's C++ core writes to file descriptor 2 meanwhile (a screen of retry
    warnings when a connection fails) and yield a function that returns it."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buf:
        os.dup2(buf.fileno(), 2)
        try:
            yield lambda: (buf.seek(0), buf.read().decode(errors="replace"))[1]
        finally:
            os.dup2(saved, 2)
            os.close(saved)


CONNECT_S = 3.0  # a TCP connection to the head's GCS port
ANSWER_S = 10.0  # the GCS's first reply (milliseconds on a live cluster)

REACH_HELP = (
    "check that `ray start --head --port={port}` runs on {host}, that the port is right and "
    "reachable from here, and, for a cluster with token authentication, RAY_AUTH_MODE=token "
    "with RAY_AUTH_TOKEN_PATH (or RAY_AUTH_TOKEN)"
)


def probe_address(address: str, connect_s: float = CONNECT_S, answer_s: float = ANSWER_S) -> None:
    """Fail in one line within seconds when no Ray cluster answers at ``address`` (``ray.init``
    retries for minutes and says nothing meanwhile): a TCP connection to the GCS port, then,
    for ``HOST:PORT``, the GCS's first reply (which also tells a missing token). Raises
    :class:`UserError` saying what was tried, how long it took and what to check."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--address {address}: expected HOST:PORT (or ray://HOST:PORT)")
    start = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=connect_s):
            pass
    except socket.gaierror as e:
        why = f"cannot resolve {host} ({e.strerror})"
    except TimeoutError:
        why = f"no answer to a TCP connection within {connect_s:g} s"
    except OSError as e:
        why = f"a TCP connection was refused or failed ({e.strerror})"
    else:
        why = "" if address.startswith("ray://") else _probe_gcs(address, answer_s)
    if why:
        took = time.monotonic() - start
        raise UserError(
            f"no Ray cluster at {address}: {why} (after {took:.1f} s); "
            + REACH_HELP.format(host=host, port=port)
        )


_PROBE = """
import sys
try:
    from ray._raylet import GcsClient
    from ray.exceptions import AuthenticationError
except ImportError:
    sys.exit(0)
try:
    GcsClient(address=sys.argv[1])
except AuthenticationError:
    print("auth")
except Exception as e:
    print("no", f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}")
else:
    print("ok")
"""


def _probe_gcs(address: str, seconds: float) -> str:
    """Ask the GCS at ``address`` for its cluster id with a bare GCS client (a private Ray API:
    where it is missing, nothing is decided), in a child process: Ray's C++ core retries for
    ~40 s and writes warnings meanwhile; the child is ended at ``seconds`` and what it wrote is
    dropped. Why it is no use, or "" when it answered. A refused token raises the
    authentication help (``ray.init`` would retry for ~20 s, then say only "Failed to connect")."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, address],
            capture_output=True,
            text=True,
            timeout=seconds,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"something accepts connections there, but no Ray GCS answered within {seconds:g} s"
    said = done.stdout.strip()
    if said == "auth":
        raise UserError(AUTH_HELP.format(address=address))
    if said.startswith("no "):
        return f"its GCS did not answer ({said[3:]})"
    return ""


def _need_client() -> None:
    try:
        import grpc  # noqa: F401
    except ImportError:
        raise UserError(
            "ray:// addresses need Ray's client: pip install 'ray[client]' "
            "(or give the cluster's HOST:PORT from this network)"
        ) from None


def _runtime_env(working_dir: str | None) -> dict[str, Any] | None:
    if working_dir is None:
        return None
    return {
        "working_dir": working_dir,
        "excludes": ["results/", ".venv/", ".git/", "*.parquet", "__pycache__/"],
    }


BACKENDS: dict[str, Callable[..., Backend]] = {
    "serial": SerialBackend,
    "ray": RayBackend,
}


def backend_factory(name: str, **options: Any) -> Callable[[], Backend]:
    """Check ``name`` and ``options`` now (None values are left out; an option the backend does
    not take is an error that names it) and return what builds the backend when it is needed."""
    import inspect

    try:
        factory = BACKENDS[name]
    except KeyError:
        raise UserError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}") from None
    given = {k: v for k, v in options.items() if v is not None}
    takes = set(inspect.signature(factory).parameters)
    unknown = sorted(set(given) - takes)
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        raise UserError(f"the {name} backend does not take {flags}")
    return lambda: factory(**given)


def make_backend(name: str, **options: Any) -> Backend:
    """The backend registered as ``name``, built now with ``options``."""
    return backend_factory(name, **options)()
