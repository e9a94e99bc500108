"""The run manifest in DIR/.geo-label: which image and parameters a folder holds, and whether it is done.

A folder belongs to one image (by content hash) and one set of parameters; a run with anything else is
refused rather than mixing chips. The image hash is cached with the file's size and mtime so a resumed or
repeated run does not re-read the whole image to recognise it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from tiling.atomic import atomic_path
from tiling.errors import OutputConflictError
from tiling.job import STATE_DIR

MANIFEST = "run.json"
LOCK = "lock"


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes (``hashlib.file_digest``: the reads and the hashing release the GIL)."""
    with path.open("rb", buffering=0) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = orjson.loads((out_dir / STATE_DIR / MANIFEST).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return data


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    with atomic_path(out_dir / STATE_DIR / MANIFEST) as temp:
        temp.write_bytes(orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))


def source_stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def recorded_fingerprint(source: Path, manifest: dict[str, Any] | None) -> str | None:
    """The image's SHA-256 as the manifest records it, if the file is unchanged since (size and mtime)."""
    if manifest and manifest.get("source_stamp") == source_stamp(source) and manifest.get("image_sha256"):
        return str(manifest["image_sha256"])
    return None


def check_same_job(out_dir: Path, manifest: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    if manifest is None:
        return
    for key, what in (("image_sha256", "another image"), ("params", "other parameters")):
        if manifest.get(key) != expected[key]:
            raise OutputConflictError(
                f"{out_dir} holds chips of {what} ({key} differs); choose another --out folder or remove it"
            )


@contextmanager
def exclusive_run(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder so two runs never write the same chips at once."""
    state = out_dir / STATE_DIR
    (state / "batches").mkdir(parents=True, exist_ok=True)
    fd = os.open(state / LOCK, os.O_RDWR | os.O_CREAT, 0o666)  # the umask decides, as for the chips
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputConflictError(f"{out_dir} is being written by another geo-label run") from None
        yield
    finally:
        os.close(fd)
