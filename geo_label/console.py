"""Terminal output: progress bars on a terminal, plain one-line messages elsewhere."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class ChipProgress:
    """Callbacks for :func:`tiling.tile_image` that drive a rich progress bar (or nothing off a terminal)."""

    description: str
    progress: Progress | None = None
    task: TaskID | None = field(default=None)

    def start(self, total: int) -> None:
        if self.progress is not None:
            self.task = self.progress.add_task(self.description, total=total)

    def advance(self, chips: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, chips)


@contextmanager
def chip_progress(description: str) -> Iterator[ChipProgress]:
    if not sys.stderr.isatty():
        yield ChipProgress(description)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        yield ChipProgress(description, progress)


@contextmanager
def count_progress(description: str) -> Iterator[Callable[[int], None]]:
    """A callback that shows how many records are done so far, on a terminal (nothing elsewhere)."""
    if not sys.stderr.isatty():
        yield lambda done: None
        return
    columns = (TextColumn("{task.description}"), TextColumn("{task.completed:,.0f} records"))
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done: progress.update(task, completed=done)
