"""Hash the image of `geo-label tile` and compute its display stretch while the command starts up.

Chip ids and the run manifest need the image's SHA-256, a full read of the file (0.4 s for a Sentinel-2
scene), and the previews need the image's display stretch (0.3 s: a sample of blocks decoded, percentiles).
Python spends about a second importing the tiling stack before the command even parses its arguments, on
one core; :func:`start` reads the image path from ``sys.argv`` first thing and does both in background
threads, mostly on the other core (GDAL's decoding and NumPy release the GIL). The hash is computed by a
child Python process running this very file (standard library only); the stretch imports :mod:`imagery`
in its thread, modules the command imports anyway. A hash that fails here (or cannot be started: no
interpreter to run this file with) is computed by the command itself (``tiling.state.file_sha256``).
The command takes the results through :func:`result` and :func:`stretch` only if the file it was asked
to tile is the very file hashed (same path, inode, size and modification time, before and after): a
wrong guess at the arguments costs wasted work, never a wrong hash or stretch. A stretch that fails here
is computed again by the command, which reports the error.
"""

from __future__ import annotations

import atexit
import hashlib
import mmap
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

#: `geo-label tile` options that take a value (the next argument unless written --option=value).
VALUE_OPTIONS = frozenset(
    {"--out", "--size", "--overlap", "--min-valid", "--scheduler", "--workers", "--compress", "--marking"}
)

Stamp = tuple[str, int, int, int, int]
_hashes: dict[Stamp, Future[str]] = {}
_stretches: dict[Stamp, Future[Any]] = {}
#: Hashing children still running, stopped when the command exits first (an error, Ctrl-C).
_children: set[subprocess.Popen[bytes]] = set()


def file_stamp(path: str | Path) -> Stamp | None:
    """What identifies the file's content cheaply: real path, device, inode, size, mtime (None: no file)."""
    try:
        real = os.path.realpath(path)
        info = os.stat(real)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (real, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def sha256_mapped(path: str) -> str:
    """The file's SHA-256, hashed over a memory map of it: no copy through read buffers (0.05 s of system
    time instead of 0.13-0.3 for the reference scene). For the hashing child only: a file truncated
    while mapped kills the process reading it (SIGBUS), which for the child is a failed hash, for the
    command would be a crash."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        if os.fstat(handle.fileno()).st_size:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                mapped.madvise(mmap.MADV_SEQUENTIAL)
                digest.update(mapped)
    return digest.hexdigest()


def sha256_in_child(path: str) -> str:
    """The file's SHA-256 computed by a child Python process (this file run as a script, see
    :func:`sha256_mapped`).

    Why a process: in a thread, the hash took 0.9 s of wall time for 0.4 s of work on the reference scene,
    and was the last thing the first chip waited for. Each 1 MB read and hash releases the GIL, and taking
    it back queues behind the imports of the main thread and of the stretch's thread (two acquisitions per
    MB, each up to a switch interval). The child has a GIL of its own and finishes while the command is
    still importing (0.55-0.65 s from start instead of 0.85-1.1, measured).
    """
    if not sys.executable or not os.path.isfile(__file__):  # an embedded or frozen Python
        raise OSError("no interpreter to run the hashing child with")
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", __file__, path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    _children.add(child)
    try:
        output, _ = child.communicate()
    finally:
        _children.discard(child)
    digest = output.decode("ascii", "replace").strip()
    if child.returncode != 0 or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise OSError(f"hashing {path} failed in a child process (exit status {child.returncode})")
    return digest


@atexit.register
def _stop_children() -> None:
    for child in list(_children):
        child.kill()


def image_argument(argv: list[str]) -> str | None:
    """The IMAGE argument of ``geo-label tile ...`` in ``argv`` (None if there is none to be found)."""
    try:
        args = argv[argv.index("tile") + 1 :]
    except ValueError:
        return None
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--":
            continue
        elif arg.startswith("-"):
            skip = arg in VALUE_OPTIONS
        else:
            return arg
    return None


def image_stretch(path: str) -> Any:
    """The display stretch, as the tiling pipeline computes it (imagery is imported here, not at start-up)."""
    from imagery import image_stretch as compute

    return compute(path)


def start(path: str | Path) -> None:
    """Start hashing ``path`` and computing its display stretch, each in a daemon thread (nothing if it is
    not a regular file)."""
    stamp = file_stamp(path)
    if stamp is None or stamp in _hashes:
        return
    hashed: Future[str] = Future()
    stretched: Future[Any] = Future()
    _hashes[stamp] = hashed
    _stretches[stamp] = stretched

    # Two threads: the stretch does not wait for the hash (each is needed before the first chip).
    for future, work, name in ((hashed, sha256_in_child, "sha256"), (stretched, image_stretch, "stretch")):
        thread = threading.Thread(target=settle, args=(future, work, stamp[0]), daemon=True)
        thread.name = f"geo-label-pre-{name}"
        thread.start()


def settle(future: Future[Any], work: Callable[[str], Any], path: str) -> None:
    try:
        future.set_result(work(path))
    except BaseException as exc:
        future.set_exception(exc)


def finished(path: str | Path, started: dict[Stamp, Future[Any]]) -> Any:
    """What was computed for ``path`` if it is the very file and unchanged, else None (also on failure)."""
    stamp = file_stamp(path)
    future = started.get(stamp) if stamp is not None else None
    if future is None:
        return None
    try:
        value = future.result()
    except Exception:
        return None
    return value if file_stamp(path) == stamp else None


def result(path: str | Path) -> str | None:
    """The SHA-256 of ``path`` if :func:`start` hashed this very file and it is unchanged, else None."""
    digest: str | None = finished(path, _hashes)
    return digest


def stretch(path: str | Path) -> Any:
    """The display stretch (an :class:`imagery.DisplayStretch`) of ``path`` computed by :func:`start` for
    this very, unchanged file, else None."""
    return finished(path, _stretches)


if __name__ == "__main__":  # the hashing child of sha256_in_child: python -I -S prehash.py FILE
    print(sha256_mapped(sys.argv[1]))
