"""Files that appear only when complete: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import itertools
import os
import stat
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

TEMP_MARK = ".tmp-"


#: Temporary names are this process's random prefix and a counter: unique across the hosts, processes and
#: threads writing into one folder, for a tenth of the cost of a UUID4 (a random read from the kernel) per
#: file. Drawn again in a forked child, whose counter would otherwise repeat its parent's names.
_process_prefix = uuid.uuid4().hex[:16]
_counter = itertools.count()


def _new_prefix() -> None:
    global _process_prefix, _counter
    _process_prefix, _counter = uuid.uuid4().hex[:16], itertools.count()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_prefix)


def temporary_name(final: str) -> str:
    """A fresh temporary name in ``final``'s folder (hidden, marked, unique across processes)."""
    folder, name = os.path.split(final)
    return os.path.join(folder, f".{name}{TEMP_MARK}{_process_prefix}-{next(_counter)}")


@contextmanager
def atomic_name(final: str) -> Iterator[str]:
    """Yield a temporary name beside ``final``; on success rename it over ``final``, on failure delete it.

    The rename is atomic on POSIX file systems, so a reader (or a resumed run) sees either no file or the
    whole file, never a partial one.
    """
    temp = temporary_name(final)
    try:
        yield temp
        os.replace(temp, final)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """:func:`atomic_name` for paths."""
    with atomic_name(str(final)) as temp:
        yield Path(temp)


#: How a written file is closed (a name of this module's, so tests can make it fail as NFS may on close).
close_descriptor = os.close


def write_atomically(final: str, chunks: Sequence[Any]) -> None:
    """Write the byte buffers ``chunks`` one after the other as the file ``final``, which appears only
    complete: written under a temporary name, closed (a network file system reports a write it failed on
    close), and only then renamed; on failure nothing but the error is left behind.

    For the chips' hot path: plain ``os`` calls on strings and one ``writev`` for the whole file (pathlib
    objects and a buffered file object cost measurable GIL-bound Python a chip).
    """
    with atomic_name(final) as temp:
        # The process umask decides (geo-label sets 0077, or 0027 for a service group): 0600 or 0640.
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            write_all(descriptor, chunks)
        except BaseException:
            os.close(descriptor)
            raise
        close_descriptor(descriptor)  # raises a late write error: then the file is deleted, not renamed


#: posix_fadvise where the platform has it (Linux and most POSIX systems; not macOS).
_ADVISE = getattr(os, "posix_fadvise", None)


def make_durable(files: Iterable[str], folders: Iterable[str]) -> None:
    """Put ``files`` (finished and renamed into place) and their names on disk: each file synced, then each
    folder in ``folders`` (where the renames are recorded).

    A tiling run records a batch as done only after this, so a host that loses power never leaves a batch
    recorded as done whose chips are not on disk. Each file's pages, clean once synced, are then dropped
    from the page cache: a run reads none of them back, and a run over an archive would otherwise fill the
    cache with chips nobody reads (and evict the images still to be tiled)."""
    for path in files:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(descriptor)
            if _ADVISE is not None:
                _ADVISE(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)
    for folder in folders:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def write_all(descriptor: int, chunks: Sequence[Any]) -> None:
    """Write ``chunks`` to ``descriptor`` with as few ``writev`` calls as it takes."""
    pending = [memoryview(chunk).cast("B") for chunk in chunks]
    while pending:
        written = os.writev(descriptor, pending)
        while pending and written >= len(pending[0]):
            written -= len(pending[0])
            pending.pop(0)
        if pending and written:
            pending[0] = pending[0][written:]


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporary files left by a killed run; returns how many."""
    removed = 0
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(".") and TEMP_MARK in path.name:
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def is_regular_file(path: str) -> bool:
    """Whether ``path`` is a regular file itself, not a symbolic link to one (nor anything else): what a run
    finds in its output folder is reused only then."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
