"""``MANIFEST.sha256``: every file of a bundle with its SHA-256, in the format ``sha256sum --check`` reads
(``HASH  ./path``), sorted by path so the same files always give the same manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

MANIFEST = "MANIFEST.sha256"
SIGNATURE = "MANIFEST.sha256.sig"
#: Files the manifest does not list: itself and its signature.
UNLISTED = frozenset({MANIFEST, SIGNATURE})
CHUNK = 1 << 20


class BundleError(Exception):
    """A bundle step that cannot go on; the message is one line for the operator."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_files(root: Path) -> list[Path]:
    """Every regular file under ``root`` but the manifest and its signature, sorted; a symbolic link or any
    other kind of file has no place in a bundle."""
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise BundleError(f"{path.relative_to(root)} is neither a regular file nor a folder")
        if path.is_file() and path.relative_to(root).as_posix() not in UNLISTED:
            if " " in path.name or "\n" in path.name:
                raise BundleError(f"{path.relative_to(root)}: a bundle file name has no blanks")
            files.append(path)
    return files


def manifest_lines(root: Path) -> list[str]:
    return [f"{file_sha256(path)}  ./{path.relative_to(root).as_posix()}" for path in bundle_files(root)]


def write_manifest(root: Path) -> Path:
    target = root / MANIFEST
    target.write_text("".join(line + "\n" for line in manifest_lines(root)), encoding="ascii")
    return target
