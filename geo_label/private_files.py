"""What GeoLabel writes is its service account's alone.

* Every file the process creates (chips, previews, indexes, run state, exports, keys, spools), whoever writes
  it (GeoLabel, GDAL, Arrow), is created mode 0600 and every folder 0700: the process umask is set to 0077
  (0027 when ``GEO_LABEL_SERVICE_GROUP`` names a group whose members may read: 0640 and 0750) first thing in
  ``geo-label``'s ``main``, the composition root, as systemd's ``UMask=`` would.
* The data directory must not be readable or writable by other accounts (:func:`prepare_data_dir`); it may
  be traversable (``o+x``, never ``r`` or ``w``) when GeoLabel runs as root and its embedded PostgreSQL runs
  as the ``postgres`` account, which must reach its own folder inside.
* Files under the data directory are read back only as regular files, never through a symbolic link
  (:func:`read_regular_file`).
"""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

from geo_label.errors import GeoLabelError

PRIVATE_UMASK = 0o077
#: With a service group: its members read (0640, 0750), nobody else.
GROUP_UMASK = 0o027
#: Bits of a data directory that would let other accounts read or change what is in it.
SHARED_BITS = 0o066
#: The same with a service group, whose members may read and search it (never write).
GROUP_SHARED_BITS = 0o026


class UnsafeDataDirError(GeoLabelError):
    """The data directory is open to other accounts, or is not a directory."""

    code = "unsafe_data_dir"


def prepare_data_dir(path: Path, *, traversable: bool, service_group: str | None = None) -> Path:
    """Create ``path`` and any missing parents (mode 0700, or 0711 when ``traversable``) or check the one
    there: refused when group or others may read or write it. ``traversable`` adds the search bit for others
    when it is missing. With ``service_group``, the data directory is that group's (0750, setgid so what is
    written in it is the group's too) and the group may read, never write."""
    mode = 0o711 if traversable else 0o700
    if service_group:
        mode |= 0o050
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
    if service_group:
        info = _give_to_group(path, service_group, info)
    if info.st_mode & (GROUP_SHARED_BITS if service_group else SHARED_BITS):
        raise UnsafeDataDirError(
            f"the data directory {path} can be read or written by other accounts "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod {mode:o} {path}"
        )
    if traversable and not info.st_mode & 0o001:
        os.chmod(path, stat.S_IMODE(info.st_mode) | 0o001)
    return path


def _give_to_group(path: Path, group: str, info: os.stat_result) -> os.stat_result:
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise UnsafeDataDirError(f"GEO_LABEL_SERVICE_GROUP names no group: {group!r}") from None
    try:
        if info.st_gid != gid:
            os.chown(path, -1, gid)
        os.chmod(path, stat.S_IMODE(info.st_mode) | stat.S_ISGID | 0o050)
        return os.stat(path)
    except OSError as exc:
        raise UnsafeDataDirError(f"cannot give {path} to the group {group}: {exc.strerror}") from None


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
