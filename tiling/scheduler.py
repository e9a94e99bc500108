"""Run tiling batches on Dask: the local scheduler by default, or an existing dask.distributed cluster."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

from dask.base import compute
from dask.callbacks import Callback
from dask.delayed import delayed

from tiling.errors import SchedulerUnavailableError

T = TypeVar("T")
R = TypeVar("R")


class LocalMode(StrEnum):
    """Threads share one GDAL block cache and need no pickling; GDAL and NumPy release the GIL for the
    decode/encode work that dominates, so threads measure faster here (see benchmarks/tiling.py)."""

    THREADS = "threads"
    PROCESSES = "processes"


@dataclass(frozen=True, slots=True)
class SchedulerChoice:
    address: str | None = None
    workers: int | None = None
    local_mode: LocalMode = LocalMode.THREADS

    def describe(self) -> str:
        if self.address:
            return f"dask.distributed cluster at {self.address}"
        return f"local dask {self.local_mode.value} x {self.workers or os.cpu_count() or 1}"


class _CompletionCallback(Callback):
    """Calls ``on_done(result)`` as each task of interest finishes on the local scheduler."""

    def __init__(self, keys: set[Any], on_done: Callable[[Any], None]) -> None:
        super().__init__()
        self._keys = keys
        self._on_done = on_done

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if key in self._keys:
            self._on_done(result)


def run_tasks(
    func: Callable[..., R],
    items: Sequence[T],
    *args: Any,
    choice: SchedulerChoice,
    on_done: Callable[[R], None],
) -> list[R]:
    """Apply ``func(*args, item)`` to every item in parallel; ``on_done`` is called once per finished item."""
    if not items:
        return []
    if choice.address:
        return _run_distributed(func, items, *args, address=choice.address, on_done=on_done)
    # Named so that the local scheduler starts the tasks in the order given (row-major chips: it runs
    # independent tasks in descending name order), which keeps the shared cell cache small and lets a
    # prefetch of the first tasks' pixels be of use; with random names it takes them in any order.
    # Each task is a call without arguments: Dask walks the arguments of a call in search of collections,
    # dataclasses included, on the way to the first chip.
    tasks = [
        delayed(partial(func, *args, item), pure=False, traverse=False, name=f"tile-call-{number:08d}")(
            dask_key_name=f"tile-task-{number:08d}"
        )
        for number, item in zip(range(len(items), 0, -1), items, strict=True)
    ]
    keys = {task.key for task in tasks}
    workers = choice.workers or os.cpu_count() or 1
    with _CompletionCallback(keys, on_done):
        results = compute(*tasks, scheduler=local_scheduler(choice.local_mode), num_workers=workers)
    return list(results)


def local_scheduler(mode: LocalMode) -> Callable[..., Any]:
    """Dask's local scheduler itself: by name (``scheduler="threads"``) dask first imports dask.distributed
    to look for a default client: start-up spent before the first chip."""
    if mode is LocalMode.PROCESSES:
        from dask.multiprocessing import get as processes_get

        return processes_get
    from dask.threaded import get as threads_get

    return threads_get


@contextmanager
def _client(address: str) -> Iterator[Any]:
    from distributed import Client

    try:
        client = Client(address, timeout="10s", set_as_default=True)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnavailableError(f"cannot reach the Dask scheduler at {address} ({exc})") from None
    try:
        yield client
    finally:
        client.close()


def _run_distributed(
    func: Callable[..., R],
    items: Sequence[T],
    *args: Any,
    address: str,
    on_done: Callable[[R], None],
) -> list[R]:
    from distributed import as_completed

    with _client(address) as client:
        futures = [client.submit(func, *args, item, pure=False) for item in items]
        position = {future.key: i for i, future in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        for future in as_completed(futures):
            result = future.result()
            results[position[future.key]] = result
            on_done(result)
        return results
