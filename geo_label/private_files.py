"""What GeoLabel writes is its service account's alone.

* Every file the process creates (chips, previews, indexes, run state, exports, keys, spools), whoever writes
  it (GeoLabel, GDAL, Arrow), is created mode 0600 and every folder 0700: the process umask is set to 0077 at
  the composition root (:func:`restrict_umask`, first thing in ``geo-label``'s ``main``), as systemd's
  ``UMask=0077`` would.
* The data directory must not be readable or writable by other accounts (:func:`prepare_data_dir`); it may
  be traversable (``o+x``, never ``r`` or ``w``) when GeoLabel runs as root and its embedded PostgreSQL runs
  as the ``postgres`` account, which must reach its own folder inside.
* Files under the data directory are read back only as regular files, never through a symbolic link
  (:func:`read_regular_file`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from geo_label.errors import GeoLabelError

PRIVATE_UMASK = 0o077
#: Bits of a data directory that would let other accounts read or change what is in it.
SHARED_BITS = 0o066


class UnsafeDataDirError(GeoLabelError):
    """The data directory is open to other accounts, or is not a directory."""

    code = "unsafe_data_dir"


def restrict_umask() -> None:
    os.umask(PRIVATE_UMASK)


def prepare_data_dir(path: Path, *, traversable: bool) -> Path:
    """Create ``path`` and any missing parents (mode 0700, or 0711 when ``traversable``) or check the one
    there: refused when group or others may read or write it. ``traversable`` adds the search bit for others
    when it is missing."""
    mode = 0o711 if traversable else 0o700
    try:
        # Folders made on the way get the same mode: a 0700 parent would keep the postgres account out.
        for folder in [*reversed(path.absolute().parents), path]:
            if not folder.exists():
                folder.mkdir(mode=mode)
                os.chmod(folder, mode)  # whatever the umask
        info = os.stat(path)
    except OSError as exc:
        raise UnsafeDataDirError(f"cannot prepare the data directory {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeDataDirError(f"the data directory {path} is not a directory")
    if info.st_mode & SHARED_BITS:
        raise UnsafeDataDirError(
            f"the data directory {path} can be read or written by other accounts "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod {mode:o} {path}"
        )
    if traversable and not info.st_mode & 0o001:
        os.chmod(path, stat.S_IMODE(info.st_mode) | 0o001)
    return path


def read_regular_file(path: Path, *, limit: int) -> bytes | None:
    """The bytes of ``path`` when it is a regular file reached without following a symbolic link (and no
    larger than ``limit``); None when it is missing, a link, or anything else."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            return stream.read(info.st_size)
    finally:
        os.close(descriptor)
