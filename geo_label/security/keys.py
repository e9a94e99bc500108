"""Secret keys kept as files under the data directory: created once with random bytes, mode 0600, and refused
when anyone but their owner could read or change them."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from geo_label.security.errors import SecurityConfigError
from geo_label.settings import MIN_SIGNING_KEY_BYTES, Settings

AUDIT_KEY_FILE = "audit-seal.key"


def load_or_create_audit_key(settings: Settings) -> bytes:
    """The key sealing audit records: ``settings.audit_key`` when set, else ``data_dir/audit-seal.key``."""
    if settings.audit_key is not None:
        return settings.audit_key.get_secret_value().encode("utf-8")
    return load_or_create_key(
        settings.data_dir / AUDIT_KEY_FILE, what="the audit seal key", setting="GEO_LABEL_AUDIT_KEY"
    )


def load_or_create_key(path: Path, *, what: str, setting: str) -> bytes:
    """The hex key in ``path``, created on first use with 32 random bytes, mode 0600. A key file readable or
    writable by group or others is refused (SecurityConfigError), as is one that is not a regular file or
    holds fewer than 32 bytes. ``what`` names the key in messages; ``setting`` is the variable that can give
    it instead."""
    try:
        return _read_key_file(path, what)
    except FileNotFoundError:
        pass
    _create_key_file(path, what, setting)
    try:
        return _read_key_file(path, what)
    except FileNotFoundError:
        raise SecurityConfigError(f"{what} {path} vanished right after its creation") from None


def _read_key_file(path: Path, what: str) -> bytes:
    """Raises FileNotFoundError when missing, SecurityConfigError when unsafe or invalid."""
    try:
        # A symlink (e.g. a mounted secret) is fine; O_NONBLOCK: a FIFO is refused below, not waited on.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SecurityConfigError(f"cannot open {what} {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecurityConfigError(f"{what} {path} is not a regular file")
        if info.st_mode & 0o077:
            raise SecurityConfigError(
                f"{what} {path} is accessible to group or others "
                f"(mode {info.st_mode & 0o777:04o}); run: chmod 600 {path}"
            )
        text = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        key = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise SecurityConfigError(f"{what} {path} is not hex-encoded") from None
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise SecurityConfigError(
            f"{what} {path} holds {len(key)} bytes; at least {MIN_SIGNING_KEY_BYTES} are needed"
        )
    return key


def _create_key_file(path: Path, what: str, setting: str) -> None:
    """Write a new key so that the file appears complete or not at all; losing a creation race is fine."""
    content = (secrets.token_bytes(MIN_SIGNING_KEY_BYTES).hex() + "\n").encode("ascii")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(content)
                stream.flush()
                os.fsync(stream.fileno())
            # Atomic, and fails if another process created the key first: then both use that one.
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as exc:
        raise SecurityConfigError(
            f"cannot create {what} {path}: {exc.strerror}; fix the directory or set {setting}"
        ) from None
