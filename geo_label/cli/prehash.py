"""Hash the image of `geo-label tile` while the command is still starting up.

Chip ids and the run manifest need the image's SHA-256, a full read of the file (0.4 s for a Sentinel-2
scene). Python spends about as long importing the tiling stack before the command even parses its
arguments; :func:`start` reads the image path from ``sys.argv`` first thing and hashes it in a background
thread (hashlib and file reads release the GIL), using only the standard library. The command takes the
result through :func:`result` only if the file it was asked to tile is the very file hashed (same path,
inode, size and modification time, before and after): a wrong guess at the arguments costs a wasted read,
never a wrong hash.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from concurrent.futures import Future
from pathlib import Path

CHUNK = 16 << 20
#: `geo-label tile` options that take a value (the next argument unless written --option=value).
VALUE_OPTIONS = frozenset(
    {"--out", "--size", "--overlap", "--min-valid", "--scheduler", "--workers", "--compress", "--marking"}
)

Stamp = tuple[str, int, int, int, int]
_hashes: dict[Stamp, Future[str]] = {}


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


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


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


def start(path: str | Path) -> None:
    """Start hashing ``path`` in a daemon thread (nothing if it is not a regular file)."""
    stamp = file_stamp(path)
    if stamp is None or stamp in _hashes:
        return
    future: Future[str] = Future()
    _hashes[stamp] = future

    def run() -> None:
        try:
            future.set_result(sha256_of(stamp[0]))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="geo-label-prehash", daemon=True).start()


def result(path: str | Path) -> str | None:
    """The SHA-256 of ``path`` if :func:`start` hashed this very file and it is unchanged, else None."""
    stamp = file_stamp(path)
    future = _hashes.get(stamp) if stamp is not None else None
    if future is None:
        return None
    try:
        digest = future.result()
    except OSError:
        return None
    return digest if file_stamp(path) == stamp else None
