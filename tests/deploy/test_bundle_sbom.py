"""The bundle's CycloneDX SBOM and licence inventory, from a real wheel file and a real .deb (built here with
dpkg-deb): purls, hashes and licences as the packages declare them, a document that validates against the
schema, and the same document for the same inputs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

from deploy_airgapped.sbom import LICENSES, SBOM, UNKNOWN, collect, write_sbom

FIXED = 1767225600
DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: widget

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: lib/*
Copyright: 2021 Someone Else
License: Expat
"""


def make_wheel(folder: Path, name: str, version: str, metadata_extra: str) -> Path:
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        metadata = f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n{metadata_extra}\n"
        archive.writestr(f"{name}-{version}.dist-info/METADATA", metadata)
        archive.writestr(f"{name}/__init__.py", "")
    return wheel


def make_deb(folder: Path, package: str, copyright_text: str | None) -> Path:
    root = folder / f"{package}-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 1.2-3\nArchitecture: all\nMaintainer: Test <t@example.org>\n"
        f"Description: a test package\n"
    )
    doc = root / "usr" / "share" / "doc" / package
    doc.mkdir(parents=True)
    if copyright_text is not None:
        (doc / "copyright").write_text(copyright_text)
    deb = folder / f"{package}_1.2-3_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True, capture_output=True
    )
    return deb


def bundle_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    (folder / "wheels").mkdir(parents=True)
    (folder / "debs").mkdir()
    make_wheel(folder / "wheels", "tidy", "1.0", "License-Expression: MIT OR Apache-2.0")
    make_wheel(folder / "wheels", "classic", "2.0", "Classifier: License :: OSI Approved :: BSD License")
    make_deb(folder / "debs", "widget", DEP5)
    make_deb(folder / "debs", "oldstyle", "This package is under the GPL, see /usr/share/common-licenses.\n")
    return folder


def test_components_carry_purls_hashes_and_declared_licences(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path)
    parts = {part.name: part for part in collect(folder)}
    assert str(parts["tidy"].purl) == "pkg:pypi/tidy@1.0"
    assert parts["tidy"].licences == ("MIT OR Apache-2.0",)
    assert parts["classic"].licences == ("BSD License",)
    assert str(parts["widget"].purl) == "pkg:deb/debian/widget@1.2-3?arch=all&distro=debian-12"
    assert parts["widget"].licences == ("Expat", "GPL-2+")
    assert parts["oldstyle"].licences == (UNKNOWN,)
    assert parts["oldstyle"].source == "free-form copyright file /usr/share/doc/oldstyle/copyright"
    deb = folder / "debs" / "widget_1.2-3_all.deb"
    assert parts["widget"].sha256 == hashlib.sha256(deb.read_bytes()).hexdigest()


def test_the_sbom_validates_and_is_the_same_for_the_same_inputs(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path)
    assert write_sbom(folder, "9.9.9", FIXED) == (4, 1)
    first = (folder / SBOM).read_text()
    document = json.loads(first)
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.6"
    assert document["metadata"]["component"]["name"] == "geolabel"
    purls = sorted(component["purl"] for component in document["components"])
    assert purls[0].startswith("pkg:deb/debian/oldstyle@") and len(purls) == 4
    write_sbom(folder, "9.9.9", FIXED)
    assert (folder / SBOM).read_text() == first
    inventory = (folder / LICENSES).read_text().splitlines()
    assert inventory[0] == "kind,name,version,licences,read from"
    assert "deb,widget,1.2-3,Expat; GPL-2+,Debian copyright file" in inventory
