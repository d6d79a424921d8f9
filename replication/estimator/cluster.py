"""Forests on a Dask cluster when $REPLICATION_SCHEDULER names one; on this machine otherwise.

The engine is joblib's Dask backend, the route scikit-learn documents for its forests: inside
`forest_backend(x, y)` a forest's `fit` sends one task per tree to the cluster, and the arrays it fits
on are scattered to the workers once (not once per tree). The trees are the same as a local fit's, node
for node (sklearn draws every tree's seed before any tree is grown), so alphas do not depend on where
they were computed, and the scheduler's address is an environment variable, not a setting in
params.yaml: changing it reruns nothing.

    dask scheduler                                   # on one machine
    dask worker tcp://HOST:8786                      # on each worker (the package installed, no data)
    REPLICATION_SCHEDULER=tcp://HOST:8786 dvc repro  # forests of every smoothness and mislabel stage

`pip install -e '.[cluster]'` installs Dask's `distributed`; nothing here imports it without a cluster.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np

from replication.estimator.settings import EstimatorError

SCHEDULER_VARIABLE = "REPLICATION_SCHEDULER"
MEMORY_VARIABLE = "REPLICATION_CLUSTER_GB"
CONNECT_SECONDS = 5  # an unreachable scheduler is reported after this long
HANDSHAKE_SECONDS = 20  # and one that accepts the connection but never answers, after this long
DEFAULT_GB = 4.0  # features of the layers in flight at once, held here and scattered to the workers

T = TypeVar("T")
R = TypeVar("R")
_clients: dict[str, object] = {}


def address() -> str | None:
    """The scheduler named by $REPLICATION_SCHEDULER, or None (local)."""
    value = os.environ.get(SCHEDULER_VARIABLE, "").strip()
    return value or None


def on_cluster() -> bool:
    return address() is not None


def connect() -> object | None:
    """The client of the named scheduler (one per process), or None when none is named. Fails within
    CONNECT_SECONDS with an EstimatorError naming the address."""
    where = address()
    if where is None:
        return None
    if where not in _clients:
        try:
            from distributed import Client
        except ImportError:
            raise EstimatorError(f"${SCHEDULER_VARIABLE} is {where!r} but Dask's distributed is not installed: "
                                 "pip install -e '.[cluster]', or unset the variable to run here") from None
        try:
            _clients[where] = _open(Client, where)
        except EstimatorError:
            raise
        except ValueError:
            raise EstimatorError(f"${SCHEDULER_VARIABLE} is {where!r}, not a scheduler address such as "
                                 "tcp://HOST:8786") from None
        except (OSError, TimeoutError) as err:
            raise EstimatorError(f"cannot reach the Dask scheduler at {where} (${SCHEDULER_VARIABLE}) within "
                                 f"{CONNECT_SECONDS} s ({type(err).__name__}); start it (`dask scheduler`) or "
                                 "unset the variable to run here") from None
        except Exception as err:  # an HTTP server, another protocol (ucx:// without ucx): not a scheduler
            reason = " ".join(str(err).split())[:120]
            raise EstimatorError(f"{where} (${SCHEDULER_VARIABLE}) did not answer as a Dask scheduler "
                                 f"({type(err).__name__}: {reason}); give the scheduler's address (tcp://HOST:8786, "
                                 "not its dashboard) or unset the variable to run here") from None
    return _clients[where]


def _open(client_class: type, where: str) -> object:
    """Client(where), bounded as a whole: distributed's own timeout bounds the TCP connect, not the handshake
    after it, so a listener that accepts and never answers would hang the stage forever."""
    done: dict[str, object] = {}

    def target() -> None:
        try:
            done["client"] = client_class(where, timeout=CONNECT_SECONDS, set_as_default=True)
        except BaseException as err:  # handed to the caller's thread
            done["error"] = err

    thread = threading.Thread(target=target, name="dask-connect", daemon=True)
    thread.start()
    thread.join(HANDSHAKE_SECONDS)
    if thread.is_alive():
        raise EstimatorError(f"{where} (${SCHEDULER_VARIABLE}) accepted the connection but did not answer as a "
                             f"Dask scheduler within {HANDSHAKE_SECONDS} s; is it the scheduler's address "
                             "(tcp://HOST:8786)? Or unset the variable to run here")
    if "error" in done:
        raise done["error"]
    return done["client"]


def disconnect() -> None:
    """Close this process's clients (the next connect() opens a new one)."""
    while _clients:
        _clients.popitem()[1].close()


def workers() -> int:
    """Threads of the cluster's workers (0 without a cluster)."""
    client = connect()
    if client is None:
        return 0
    return sum(w["nthreads"] for w in client.scheduler_info(n_workers=-1)["workers"].values())


def forest_backend(*arrays: np.ndarray) -> contextlib.AbstractContextManager:
    """The joblib backend a forest fits under: the cluster's (with `arrays` scattered to every worker once),
    or a no-op without one."""
    if connect() is None:
        return contextlib.nullcontext()
    import joblib

    return joblib.parallel_config(backend="dask", scatter=list(arrays))


def memory_budget() -> int:
    """Bytes of features a stage keeps in flight on the cluster: $REPLICATION_CLUSTER_GB, else DEFAULT_GB."""
    value = os.environ.get(MEMORY_VARIABLE)
    try:
        gb = DEFAULT_GB if value is None else float(value)
    except ValueError:
        gb = -1.0
    if not 0 < gb < 1e6:
        raise EstimatorError(f"${MEMORY_VARIABLE} is {value!r}; set it to a number of gigabytes above 0")
    return int(gb * 2**30)


def in_flight(items: Iterable[T], prepare: Callable[[T], tuple[int, Callable[[], R]]],
              budget: int) -> Iterator[tuple[T, R]]:
    """Run the jobs of `items` at once, each in its own thread, as long as their sizes fit `budget` (one at
    least): `prepare(item)` (called here, in order) returns the job's size in bytes and the job; a prepared job
    that does not fit yet waits for running ones to finish. Yields
    (item, result) as jobs finish. Threads are daemons: an interrupted stage exits without waiting for
    its forests (the scheduler drops their tasks when this client goes)."""
    done: queue.Queue = queue.Queue()
    pending = iter(items)
    running: dict[int, int] = {}  # job number -> size
    used = 0

    def run(number: int, item: T, job: Callable[[], R]) -> None:
        try:
            done.put((number, item, job(), None))
        except BaseException as err:  # re-raised in the caller's thread
            done.put((number, item, None, err))

    end = object()
    number, ahead = 0, None
    while True:
        while True:  # start jobs while they fit
            if ahead is None:
                item = next(pending, end)
                if item is end:
                    break
                ahead = (item, *prepare(item))
            item, size, job = ahead
            if running and used + size > budget:
                break
            threading.Thread(target=run, args=(number, item, job), daemon=True,
                             name=f"cluster-job-{number}").start()
            running[number], used, number, ahead = size, used + size, number + 1, None
        if not running:
            return
        finished, item, result, err = done.get()
        used -= running.pop(finished)
        if err is not None:
            raise err
        yield item, result
