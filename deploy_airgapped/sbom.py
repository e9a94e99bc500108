"""The bundle's software bill of materials and licence inventory.

``sbom.cdx.json``: a CycloneDX 1.6 document made with cyclonedx-python-lib (OWASP's own library, which also
validates it against the schema it ships), naming GeoLabel and everything the bundle installs: every wheel
(``pkg:pypi`` with the wheel's sha256 and the licence its metadata declares) and every Debian package
(``pkg:deb/debian`` with the .deb's sha256 and the licences its copyright file names). The same inputs give
the same document: the serial number is derived from the components and the time is the bundle's fixed time.

``licenses.csv``: the same components as a table for the accreditor's licence review (kind, name, version,
licences, where the licence was read); a component whose licence could not be read says so.
"""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import tarfile
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from cyclonedx.contrib.license.exceptions import InvalidSpdxLicenseException
from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from deploy_airgapped.manifest import BundleError, file_sha256

SBOM = "sbom.cdx.json"
LICENSES = "licenses.csv"
SCHEMA = SchemaVersion.V1_6
UNKNOWN = "not machine-readable"
CLASSIFIER = "License :: "
DPKG_TIMEOUT_S = 120


@dataclass(frozen=True)
class Part:
    """One thing the bundle installs."""

    kind: str  # "wheel" or "deb"
    name: str
    version: str
    purl: PackageURL
    sha256: str
    licences: tuple[str, ...]
    source: str  # where the licence was read

    @property
    def key(self) -> str:
        return str(self.purl)


def wheel_licences(metadata: str) -> tuple[tuple[str, ...], str]:
    """The licence a wheel's METADATA declares: License-Expression (core metadata 2.4), else a one-line
    License field, else the trove classifiers."""
    fields = HeaderParser().parsestr(metadata)
    if expression := (fields.get("License-Expression") or "").strip():
        return (expression,), "License-Expression"
    declared = (fields.get("License") or "").strip()
    if declared and "\n" not in declared and len(declared) <= 80:
        return (declared,), "License"
    classifiers = [c for c in fields.get_all("Classifier") or [] if c.startswith(CLASSIFIER)]
    named = tuple(sorted({c.split(" :: ")[-1] for c in classifiers} - {"OSI Approved"}))
    return (named, "classifier") if named else ((UNKNOWN,), "METADATA")


def wheel_part(wheel: Path) -> Part:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        metadata = archive.read(name).decode("utf-8", errors="replace")
    fields = HeaderParser().parsestr(metadata)
    project, version = str(fields["Name"]), str(fields["Version"])
    licences, source = wheel_licences(metadata)
    purl = PackageURL(type="pypi", name=project.lower().replace("_", "-"), version=version)
    return Part("wheel", project, version, purl, file_sha256(wheel), licences, f"wheel {source}")


def debian_licences(copyright_text: str) -> tuple[str, ...]:
    """The licence names of a Debian copyright file in the machine-readable format (its License: fields)."""
    names = {
        line.split(":", 1)[1].strip()
        for line in copyright_text.splitlines()
        if line.startswith("License:") and line.split(":", 1)[1].strip()
    }
    return tuple(sorted(names))


def _dpkg(*args: str) -> bytes:
    try:
        done = subprocess.run(["dpkg-deb", *args], capture_output=True, timeout=DPKG_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BundleError(f"dpkg-deb could not run: {exc}") from None
    if done.returncode != 0:
        raise BundleError(
            f"dpkg-deb {args[0]} {args[1]} failed: {done.stderr.decode(errors='replace')[:200]}"
        )
    return done.stdout


def deb_part(deb: Path) -> Part:
    control = _dpkg("--field", str(deb), "Package", "Version", "Architecture").decode()
    fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line)
    package, version, arch = fields["Package"], fields["Version"], fields["Architecture"]
    wanted = f"./usr/share/doc/{package}/copyright"
    text = ""
    with tarfile.open(fileobj=io.BytesIO(_dpkg("--fsys-tarfile", str(deb))), mode="r:") as data:
        for member in data:
            if member.name == wanted and member.isfile():
                stream = data.extractfile(member)
                text = stream.read().decode("utf-8", errors="replace") if stream else ""
                break
    licences = debian_licences(text)
    source = "Debian copyright file" if licences else f"free-form copyright file {wanted[1:]}"
    purl = PackageURL(
        type="deb",
        namespace="debian",
        name=package,
        version=version,
        qualifiers={"arch": arch, "distro": "debian-12"},
    )
    return Part("deb", package, version, purl, file_sha256(deb), licences or (UNKNOWN,), source)


def collect(folder: Path) -> list[Part]:
    parts = [wheel_part(w) for w in sorted((folder / "wheels").glob("*.whl"))]
    parts += [deb_part(d) for d in sorted((folder / "debs").glob("*.deb"))]
    return sorted(parts, key=lambda part: (part.kind, part.name.lower(), part.version))


def licences_of(part: Part, factory: LicenseFactory) -> list[Any]:
    """One licence: an SPDX expression, id or name as it parses. Several (a Debian package's files under
    different licences): each an SPDX id where it is one, else a name (CycloneDX allows an expression only
    alone)."""
    names = [name for name in part.licences if name != UNKNOWN]
    if len(names) == 1:
        return [factory.make_from_string(names[0])]
    licences = []
    for name in names:
        try:
            licences.append(factory.make_with_id(name))
        except InvalidSpdxLicenseException:
            licences.append(factory.make_with_name(name))
    return licences


def sbom_json(parts: list[Part], release: str, fixed_time: int) -> str:
    """The CycloneDX document (validated against the 1.6 schema)."""
    licence_factory = LicenseFactory()
    identity = hashlib.sha256("\n".join(f"{p.key} {p.sha256}" for p in parts).encode()).hexdigest()
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"geolabel/{release}/{identity}"))
    bom.metadata.timestamp = datetime.fromtimestamp(fixed_time, UTC)
    root = Component(
        name="geolabel",
        version=release,
        type=ComponentType.APPLICATION,
        bom_ref=f"geolabel@{release}",
        description="GeoLabel offline bundle for Debian 12 amd64",
    )
    bom.metadata.component = root
    components = []
    for part in parts:
        component = Component(
            name=part.name,
            version=part.version,
            type=ComponentType.LIBRARY,
            bom_ref=part.key,
            purl=part.purl,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=part.sha256)],
            licenses=licences_of(part, licence_factory),
        )
        bom.components.add(component)
        components.append(component)
    bom.register_dependency(root, components)
    text = str(make_outputter(bom, OutputFormat.JSON, SCHEMA).output_as_string(indent=1))
    problem = JsonStrictValidator(SCHEMA).validate_str(text)
    if problem is not None:
        raise BundleError(f"the SBOM does not validate against CycloneDX {SCHEMA.to_version()}: {problem}")
    return text + "\n"


def licences_csv(parts: list[Part]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "name", "version", "licences", "read from"])
    for part in parts:
        writer.writerow([part.kind, part.name, part.version, "; ".join(part.licences), part.source])
    return out.getvalue()


def write_sbom(folder: Path, release: str, fixed_time: int) -> tuple[int, int]:
    """``sbom.cdx.json`` and ``licenses.csv`` for what ``folder`` holds; the number of components and of
    those whose licence could not be read."""
    parts = collect(folder)
    (folder / SBOM).write_text(sbom_json(parts, release, fixed_time))
    (folder / LICENSES).write_text(licences_csv(parts))
    return len(parts), sum(1 for part in parts if UNKNOWN in part.licences)
