"""The offline bundle's integrity (issue 12, verify): the receiving side's ``verify`` passes an intact bundle
and fails, with one line and a non-zero exit, on a flipped byte anywhere, a missing or extra file, a
re-hashed manifest, and the wrong key. It runs as on a bare Debian host: ``env -i``, sh, coreutils, gpgv."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from deploy_airgapped.build import Bundle, build
from deploy_airgapped.manifest import BundleError, manifest_lines, write_manifest
from deploy_airgapped.release_key import ensure_release_key

pytestmark = pytest.mark.skipif(
    shutil.which("gpg") is None or shutil.which("gpgv") is None, reason="needs gpg"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    root = tmp_path_factory.mktemp("bundle")
    return build(root / "dist", release_key=None, var_dir=root / "var", wheels=False, debs=False)


def receive(bundle: Bundle, where: Path) -> Path:
    """Unpack the tar as the receiving side would, the public key beside it."""
    where.mkdir()
    with tarfile.open(bundle.tar) as tar:
        tar.extractall(where, filter="data")
    shutil.copyfile(bundle.public_key, where / "release.pub")
    return where / bundle.folder.name


def verify(folder: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(folder / "verify"), "--key", str(key)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folder.parent,
    )


def failed(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("verify: FAILED") and words in lines[0], result.stderr


def test_an_intact_bundle_verifies(built: Bundle, tmp_path: Path) -> None:
    folder = receive(built, tmp_path / "rx")
    result = verify(folder, tmp_path / "rx" / "release.pub")
    assert result.returncode == 0, result.stderr
    assert "signature good" in result.stdout and "the bundle is intact" in result.stdout


@pytest.mark.parametrize("name", ["README.md", "MANIFEST.sha256"])
def test_a_flipped_byte_anywhere_fails(built: Bundle, tmp_path: Path, name: str) -> None:
    folder = receive(built, tmp_path / "rx")
    target = folder / name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    result = verify(folder, tmp_path / "rx" / "release.pub")
    failed(result, "signature" if name == "MANIFEST.sha256" else "does not match")


def test_a_tampered_verify_script_is_caught_by_the_two_documented_commands(
    built: Bundle, tmp_path: Path
) -> None:
    """A changed ``verify`` could claim anything, so the README has the operator check the bundle with two
    base-system commands first; they catch it."""
    folder = receive(built, tmp_path / "rx")
    (folder / "verify").write_text("#!/bin/sh\necho 'verify: the bundle is intact'\n")
    env = {"PATH": "/usr/bin:/bin", "GNUPGHOME": str(tmp_path)}
    signature = subprocess.run(
        ["gpgv", "--keyring", str(tmp_path / "rx" / "release.pub"), "MANIFEST.sha256.sig", "MANIFEST.sha256"],
        cwd=folder,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert signature.returncode == 0
    checksums = subprocess.run(
        ["sha256sum", "--check", "--strict", "MANIFEST.sha256"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checksums.returncode != 0 and "./verify: FAILED" in checksums.stdout


def test_a_missing_or_an_extra_file_fails(built: Bundle, tmp_path: Path) -> None:
    folder = receive(built, tmp_path / "rx")
    (folder / "README.md").unlink()
    failed(verify(folder, tmp_path / "rx" / "release.pub"), "README.md is missing")
    again = receive(built, tmp_path / "rx2")
    (again / "extra.sh").write_text("echo planted\n")
    failed(verify(again, tmp_path / "rx2" / "release.pub"), "extra.sh is not in the manifest")


def test_a_manifest_rewritten_for_changed_files_fails_its_signature(built: Bundle, tmp_path: Path) -> None:
    folder = receive(built, tmp_path / "rx")
    (folder / "README.md").write_text("changed\n")
    write_manifest(folder)  # the checksums match again: only the signature can tell
    failed(verify(folder, tmp_path / "rx" / "release.pub"), "signature does not verify")


def test_the_wrong_key_fails(built: Bundle, tmp_path: Path) -> None:
    other = build(
        tmp_path / "other-dist", release_key=None, var_dir=tmp_path / "other-var", wheels=False, debs=False
    )
    folder = receive(built, tmp_path / "rx")
    failed(verify(folder, other.public_key), "signature does not verify")
    failed(verify(folder, tmp_path / "no-such.pub"), "no key file")


def test_the_same_inputs_give_the_same_manifest_and_tar(built: Bundle, tmp_path: Path) -> None:
    key = ensure_release_key(None, built.folder.parent.parent / "var")
    again = build(
        tmp_path / "dist", release_key=key.secret_path, var_dir=tmp_path / "unused", wheels=False, debs=False
    )
    assert (again.folder / "MANIFEST.sha256").read_text() == (built.folder / "MANIFEST.sha256").read_text()
    with tarfile.open(again.tar) as a, tarfile.open(built.tar) as b:
        assert [(m.name, m.mtime, m.uid, m.mode) for m in a] == [(m.name, m.mtime, m.uid, m.mode) for m in b]


def test_a_symbolic_link_has_no_place_in_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(BundleError, match="neither a regular file"):
        manifest_lines(tmp_path)


def apt_knows_postgresql() -> bool:
    """Whether apt's package lists are here (a machine where nothing was installed may have none)."""
    if shutil.which("apt-cache") is None:
        return False
    done = subprocess.run(["apt-cache", "show", "postgresql-15"], capture_output=True, timeout=60)
    return done.returncode == 0 and bool(done.stdout.strip())


@pytest.mark.skipif(not apt_knows_postgresql(), reason="apt has no package lists here (run apt-get update)")
def test_the_debian_closure_holds_what_the_host_needs() -> None:
    """apt's view of the closure (no download): the database, PostGIS, the venv module and what they need."""
    from deploy_airgapped.build import debian_closure

    closure = debian_closure()
    for needed in ("postgresql-15", "postgresql-15-postgis-3", "python3-venv", "python3.11-venv", "libc6"):
        assert needed in closure
    assert closure == sorted(set(closure))
