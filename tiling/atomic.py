"""Files that appear only when complete: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

TEMP_MARK = ".tmp-"


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success rename it over ``final``, on failure delete it.

    The rename is atomic on POSIX file systems, so a reader (or a resumed run) sees either no file or the
    whole file, never a partial one.
    """
    temp = final.with_name(f".{final.name}{TEMP_MARK}{uuid.uuid4().hex}")
    try:
        yield temp
        os.replace(temp, final)
    except BaseException:
        with suppress(FileNotFoundError):
            temp.unlink()
        raise


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporary files left by a killed run; returns how many."""
    removed = 0
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(".") and TEMP_MARK in path.name:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
