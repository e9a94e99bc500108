"""Run tiling batches: on a local pool of threads (the default) or processes, or on an existing
dask.distributed cluster."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

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
        return f"local {self.local_mode.value} x {self.workers or os.cpu_count() or 1}"


def run_tasks(
    func: Callable[..., R],
    items: Sequence[T],
    *args: Any,
    choice: SchedulerChoice,
    on_done: Callable[[R], None],
) -> list[R]:
    """Apply ``func(*args, item)`` to every item in parallel; ``on_done`` is called once per finished item.
    The results come in the items' order."""
    if not items:
        return []
    if choice.address:
        return _run_distributed(func, items, *args, address=choice.address, on_done=on_done)
    workers = choice.workers or os.cpu_count() or 1
    with _local_pool(choice.local_mode, workers) as pool:
        # A pool starts its tasks in the order they are submitted: row-major chips, which keeps the shared
        # cell cache small and makes the prefetch of the first task's pixels of use.
        futures = [pool.submit(func, *args, item) for item in items]
        try:
            return _in_order(futures, as_completed(futures), on_done, key=id)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _local_pool(mode: LocalMode, workers: int) -> Executor:
    if mode is LocalMode.PROCESSES:
        # Spawned, not forked: the parent runs threads (hashing, GDAL's) that a fork would copy mid-work.
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    return ThreadPoolExecutor(workers, thread_name_prefix="geo-label-tile")


def _in_order(
    futures: Sequence[Any],
    completed: Iterable[Any],
    on_done: Callable[[Any], None],
    *,
    key: Callable[[Any], Any],
) -> list[Any]:
    """The results of ``futures`` in their order, ``on_done`` called with each as ``completed`` yields it."""
    position = {key(future): i for i, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    for future in completed:
        result = future.result()
        results[position[key(future)]] = result
        on_done(result)
    return results


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
    from distributed import as_completed as completed_on_cluster

    with _client(address) as client:
        futures = [client.submit(func, *args, item, pure=False) for item in items]
        return _in_order(futures, completed_on_cluster(futures), on_done, key=lambda future: future.key)
