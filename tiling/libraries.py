"""Libraries the chip workers load on first use, imported once per process, one thread at a time."""

from __future__ import annotations

import importlib
import threading

ARROW_MODULES = ("pyarrow", "pyarrow.compute", "pyarrow.parquet")
_IMPORT_LOCK = threading.Lock()


def import_arrow() -> None:
    """Import pyarrow and the parts of it tiling uses (codecs, compute, Parquet), holding a lock.

    pyarrow is not imported at start-up (it is not needed before the first chip, and the command starts
    faster without it), so the threads of a run would otherwise import it at the same moment: the chip
    workers for ZSTD and lookups, the index's thread for Parquet. Two threads importing its extension
    modules at once can leave one with a half-initialised ``pyarrow.lib`` ("cannot import name
    'BuildInfo' from partially initialized module"), which failed a run; with the lock the first thread
    imports and the others wait for it. Cheap once done: a lookup in ``sys.modules`` per call.
    """
    with _IMPORT_LOCK:
        for name in ARROW_MODULES:
            importlib.import_module(name)
