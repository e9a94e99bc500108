"""The local pool (issue 16: concurrent.futures, not Dask's local scheduler): tasks start in the order given,
results come in that order, and a failing task stops the run with its error."""

from __future__ import annotations

import threading

import pytest

from tiling.scheduler import LocalMode, SchedulerChoice, run_tasks

started: list[int] = []
_lock = threading.Lock()


def note_start(item: int) -> int:
    with _lock:
        started.append(item)
    return item * 10


def fail_on_three(item: int) -> int:
    if item == 3:
        raise ValueError("bad item 3")
    return item


def test_tasks_start_in_order_and_results_come_in_order() -> None:
    started.clear()
    finished: list[int] = []
    results = run_tasks(
        note_start, list(range(20)), choice=SchedulerChoice(workers=1), on_done=finished.append
    )
    assert started == list(range(20))  # one worker: the pool's queue is the order given
    assert results == [i * 10 for i in range(20)] and sorted(finished) == results


@pytest.mark.parametrize("mode", list(LocalMode))
def test_a_failing_task_stops_the_run_with_its_error(mode: LocalMode) -> None:
    with pytest.raises(ValueError, match="bad item 3"):
        run_tasks(
            fail_on_three, list(range(8)), choice=SchedulerChoice(workers=2, local_mode=mode), on_done=print
        )
