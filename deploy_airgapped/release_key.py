"""The release key: an Ed25519 OpenPGP key that signs each bundle's manifest.

Why OpenPGP and not ``ssh-keygen -Y`` or minisign: the receiving host has only the base system of Debian 12,
and ``gpgv`` is on every Debian (apt depends on it), while ``ssh-keygen`` (openssh-client) and minisign are
not. The signature is checked with ``gpgv --keyring geolabel-release.pub``, the public key carried separately
from the bundle.

The secret key is ``GEO_LABEL_RELEASE_KEY`` (the path of an exported secret key) or, when unset, one made once
under ``var/release/`` (mode 0600) and reused. gpg runs in a throw-away home directory each time, so no
keyring of the build machine is read or changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy_airgapped.manifest import BundleError

USER_ID = "GeoLabel release <release@geolabel.invalid>"
SECRET_FILE = "release-key.asc"
GPG_TIMEOUT_S = 120


@dataclass(frozen=True)
class ReleaseKey:
    secret_path: Path
    fingerprint: str


def _gpg(home: Path, *args: str, stdin: bytes | None = None) -> bytes:
    command = ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--pinentry-mode", "loopback", *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=GPG_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BundleError(f"gpg could not run: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise BundleError(f"gpg {args[0]} failed: {last}")
    return done.stdout


@contextmanager
def gnupg_home() -> Iterator[Path]:
    """A private, throw-away GnuPG home; its agent is stopped at the end."""
    home = Path(tempfile.mkdtemp(prefix="geolabel-gpg-"))
    home.chmod(0o700)
    try:
        yield home
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def _import(home: Path, secret: Path) -> str:
    _gpg(home, "--import", str(secret))
    listing = _gpg(home, "--with-colons", "--list-secret-keys").decode()
    fingerprints = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
    if not fingerprints:
        raise BundleError(f"{secret} holds no secret key")
    return fingerprints[0]


def ensure_release_key(configured: Path | None, var_dir: Path) -> ReleaseKey:
    """The configured release key, or the one under ``var_dir`` (made on first use)."""
    if configured is not None:
        if not configured.is_file():
            raise BundleError(f"GEO_LABEL_RELEASE_KEY names no file: {configured}")
        with gnupg_home() as home:
            return ReleaseKey(configured, _import(home, configured))
    secret = var_dir / SECRET_FILE
    if not secret.exists():
        var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with gnupg_home() as home:
            _gpg(home, "--passphrase", "", "--quick-gen-key", USER_ID, "ed25519", "sign", "never")
            armored = _gpg(home, "--passphrase", "", "--armor", "--export-secret-keys")
        descriptor = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(armored)
    with gnupg_home() as home:
        return ReleaseKey(secret, _import(home, secret))


def sign(key: ReleaseKey, manifest: Path, public_out: Path) -> Path:
    """Write ``manifest``'s detached signature beside it and the public key (a keyring ``gpgv`` reads) to
    ``public_out``; returns the signature's path."""
    signature = manifest.with_name(manifest.name + ".sig")
    with gnupg_home() as home:
        _import(home, key.secret_path)
        _gpg(
            home,
            "--passphrase",
            "",
            "--local-user",
            key.fingerprint,
            "--yes",
            "--output",
            str(signature),
            "--detach-sign",
            str(manifest),
        )
        public_out.parent.mkdir(parents=True, exist_ok=True)
        public_out.write_bytes(_gpg(home, "--export", key.fingerprint))
    return signature
