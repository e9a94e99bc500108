"""``make bundle``: the offline bundle, built on a connected machine.

Writes ``dist/geolabel-VERSION-bookworm-amd64/`` and its tar file (one top-level folder, entries sorted,
owner root and a fixed time, so the same inputs give the same tar), and the release public key
``dist/geolabel-release.pub``. Every file is listed in ``MANIFEST.sha256``, which the release key signs.

What the bundle holds: the receiving side's scripts (``verify``, ``install``, ``selftest``, ``uninstall``
and what they share in ``lib/``), templates in ``share/`` (the command, the configuration, the systemd unit),
its README and ``VERSION``; ``wheels/``: every package of ``requirements-runtime.lock`` as a binary wheel for
CPython 3.11 on manylinux x86_64 (hashes checked by pip), plus GeoLabel's own wheel with its UI assets, and
``requirements-bundle.lock`` naming them all with their hashes; ``debs/``: PostgreSQL 15, PostGIS 3,
python3-venv and proj-data with their whole dependency closure for bookworm, indexed (``Packages``);
``sbom.cdx.json`` (CycloneDX) and ``licenses.csv`` over all of them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from deploy_airgapped.manifest import BundleError, write_manifest
from deploy_airgapped.release_key import ensure_release_key, sign
from deploy_airgapped.sbom import write_sbom

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DISTRIBUTION, ARCHITECTURE = "bookworm", "amd64"
PUBLIC_KEY = "geolabel-release.pub"
#: Entries of the tar file carry this time (2026-01-01), not the build's: the same files, the same tar.
FIXED_MTIME = 1767225600
RUNTIME_LOCK = "requirements-runtime.lock"
BUNDLE_LOCK = "requirements-bundle.lock"
#: The wheels the host's CPython 3.11 (Debian 12) installs: manylinux tags up to glibc 2.36, pure Python.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")
PIP_TIMEOUT_S = 1800
#: What the host needs from Debian (with their whole dependency closure): the embedded database and a venv.
#: (and proj-data: the datum shift grids Debian ships, which GEO_LABEL_PROJ_GRIDS points at).
DEBIAN_PACKAGES = ("postgresql-15", "postgresql-15-postgis-3", "python3-venv", "proj-data")
APT_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Bundle:
    folder: Path
    tar: Path
    public_key: Path
    fingerprint: str


def version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def assemble(folder: Path, release: str) -> None:
    """The bundle's own files, before the downloads and the manifest: the receiving side's scripts and
    templates (executables 0755, the rest 0644), its README and the version."""
    source = HERE / "bundle_files"
    for path in sorted(source.rglob("*")):
        target = folder / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        shutil.copyfile(path, target)
        target.chmod(0o755 if os.access(path, os.X_OK) else 0o644)
    shutil.copyfile(HERE / "README.md", folder / "README.md")
    (folder / "VERSION").write_text(f"{release}\n")


def _pip(*args: str) -> None:
    """pip of this interpreter, ``--isolated`` (no pip configuration or environment of the build machine
    counts), with a fixed SOURCE_DATE_EPOCH so GeoLabel's own wheel is the same for the same sources."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(FIXED_MTIME)}
    env = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    command = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BundleError(f"pip could not run: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.startswith("ERROR")] or ["no message"]
        raise BundleError(f"pip {args[0]} failed: {lines[0]}")


def wheelhouse(folder: Path, release: str) -> Path:
    """``folder/wheels``: every wheel of the runtime lock (binary only, hashes checked), and GeoLabel's at
    version ``release``."""
    wheels = folder / "wheels"
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    _pip(
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        *platforms,
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
        "--abi",
        "abi3",
        "--abi",
        "none",
        "-r",
        str(REPO / RUNTIME_LOCK),
        "-d",
        str(wheels),
    )
    own_wheel(wheels, release)
    shutil.copyfile(REPO / RUNTIME_LOCK, folder / RUNTIME_LOCK)
    write_bundle_lock(folder, wheels, release)
    return wheels


#: What a copy of the sources for a wheel at another version leaves out.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "dist", "var", "build", "*.egg-info", "__pycache__", ".*_cache", "test-artifacts"
)


def own_wheel(wheels: Path, release: str) -> None:
    """GeoLabel's wheel into ``wheels``: from the sources as they are, or, for another version than the
    sources' (an upgrade test's newer release), from a copy whose pyproject.toml names that version."""
    if release == version():
        _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO))
        return
    with tempfile.TemporaryDirectory() as scratch:
        sources = Path(scratch) / "sources"
        shutil.copytree(REPO, sources, ignore=NOT_SOURCES)
        pyproject = sources / "pyproject.toml"
        text = pyproject.read_text()
        pyproject.write_text(text.replace(f'version = "{version()}"', f'version = "{release}"', 1))
        _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(sources))


def write_bundle_lock(folder: Path, wheels: Path, release: str) -> None:
    """``requirements-bundle.lock``: what ``install`` gives ``pip --require-hashes``: the runtime lock and
    GeoLabel's own wheel with its sha256."""
    own = sorted(wheels.glob("geo_label-*.whl"))
    if len(own) != 1:
        raise BundleError(f"expected one GeoLabel wheel in {wheels}, found {len(own)}")
    digest = hashlib.sha256(own[0].read_bytes()).hexdigest()
    lock = (REPO / RUNTIME_LOCK).read_text()
    entry = f"geo-label=={release} \\\n    --hash=sha256:{digest}\n"
    (folder / BUNDLE_LOCK).write_text(f"{lock.rstrip()}\n# GeoLabel itself, built for this bundle\n{entry}")


def _run(command: list[str], *, cwd: Path | None = None, what: str) -> str:
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BundleError(f"{what} could not run: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BundleError(f"{what} failed: {last}")
    return done.stdout


def debian_closure(packages: tuple[str, ...] = DEBIAN_PACKAGES) -> list[str]:
    """``packages`` and every package they depend on (pre-depends included; no recommends or suggests), as
    apt of this Debian 12 amd64 build machine resolves them: what a bare host may lack."""
    release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    arch = _run(["dpkg", "--print-architecture"], what="dpkg").strip()
    if "VERSION_CODENAME=bookworm" not in release or arch != ARCHITECTURE:
        raise BundleError(f"the Debian packages are gathered on Debian 12 {ARCHITECTURE} (this is not)")
    listing = _run(
        [
            "apt-cache",
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            *packages,
        ],
        what="apt-cache depends",
    )
    return sorted({line for line in listing.splitlines() if line[:1].isalnum()})


def debian_packages(folder: Path) -> Path:
    """``folder/debs``: the closure's .deb files, from the build machine's apt sources, and their index
    ``Packages`` (apt-ftparchive), so the host's apt resolves from this folder alone, like a repository."""
    debs = folder / "debs"
    debs.mkdir()
    _run(["apt-get", "download", *debian_closure()], cwd=debs, what="apt-get download")
    index = _run(["apt-ftparchive", "packages", "."], cwd=debs, what="apt-ftparchive")
    (debs / "Packages").write_text(index)
    return debs


def write_tar(folder: Path, tar_path: Path) -> None:
    def normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = FIXED_MTIME
        return info

    temporary = tar_path.with_suffix(".tar.partial")
    with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(folder, arcname=folder.name, recursive=False, filter=normalised)
        for path in sorted(folder.rglob("*")):
            tar.add(
                path,
                arcname=f"{folder.name}/{path.relative_to(folder).as_posix()}",
                recursive=False,
                filter=normalised,
            )
    temporary.replace(tar_path)


def build(
    out: Path,
    *,
    release_key: Path | None,
    var_dir: Path,
    wheels: bool = True,
    debs: bool = True,
    release: str | None = None,
) -> Bundle:
    """The bundle under ``out`` (``wheels=False``, ``debs=False``: without the downloads, for the integrity
    tests; ``release``: another version than the sources', for the upgrade test)."""
    key = ensure_release_key(release_key, var_dir)
    release = release or version()
    name = f"geolabel-{release}-{DISTRIBUTION}-{ARCHITECTURE}"
    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    assemble(folder, release)
    if wheels:
        wheelhouse(folder, release)
    if debs:
        debian_packages(folder)
    write_sbom(folder, release, FIXED_MTIME)
    public_key = out / PUBLIC_KEY
    sign(key, write_manifest(folder), public_key)
    tar = out / f"{name}.tar"
    write_tar(folder, tar)
    return Bundle(folder, tar, public_key, key.fingerprint)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bundle", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    args = parser.parse_args(argv)
    configured = os.environ.get("GEO_LABEL_RELEASE_KEY")
    started = time.perf_counter()
    try:
        bundle = build(
            args.out, release_key=Path(configured) if configured else None, var_dir=REPO / "var" / "release"
        )
    except (BundleError, OSError) as exc:
        print(f"bundle: error: {exc}", file=sys.stderr)
        return 1
    size = bundle.tar.stat().st_size / 1e6
    print(f"bundle: {bundle.tar} ({size:.1f} MB) in {time.perf_counter() - started:.1f} s")
    print(f"bundle: public key {bundle.public_key}, fingerprint {bundle.fingerprint}")
    receive = f"tar xf {bundle.tar.name} && {bundle.folder.name}/verify --key {PUBLIC_KEY}"
    print(f"bundle: on the receiving side: {receive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
