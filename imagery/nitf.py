"""NITF security header fields to a marking.

The file header (FS*) and every image segment (IS*) carry security fields; the marking of the file is the
roll-up of all of them, so an image segment more restrictive than its file header is never under-marked.
A field that cannot be mapped is an error: a classified file is never read as UNCLASSIFIED by default.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rasterio
from rasterio.errors import NotGeoreferencedWarning

from access_control import Marking, MarkingError, MarkingRegistry, parse_marking, roll_up
from imagery.errors import SecurityMarkingError

LEVELS = {"U": "UNCLASSIFIED", "C": "CONFIDENTIAL", "S": "SECRET", "T": "TOP SECRET"}
LEVEL_CODES = {"UNCLASSIFIED": "U", "CONFIDENTIAL": "C", "SECRET": "S", "TOP_SECRET": "T"}
CONTROL_CODES = {"NOFORN": "NF", "ORCON": "OC", "IMCON": "IMC"}
US_CLASSIFICATION_SYSTEMS = {"", "US"}


def segment_marking(
    tags: Mapping[str, str], prefix: str, where: str, registry: MarkingRegistry | None
) -> Marking:
    """Map one header's ``{prefix}CLAS/CODE/CTLH/REL`` fields (prefix ``FS`` or ``IS``) to a marking."""

    def field(name: str) -> str:
        return tags.get(f"NITF_{prefix}{name}", "").strip()

    system = field("CLSY").upper()
    if system not in US_CLASSIFICATION_SYSTEMS:
        raise SecurityMarkingError(
            f"{where}: {prefix}CLSY={system!r} is not the US classification system; mark the image at ingest "
            "with --marking after review"
        )
    level_code = field("CLAS").upper()
    if level_code not in LEVELS:
        raise SecurityMarkingError(f"{where}: {prefix}CLAS={level_code!r} is not one of U, C, S, T")
    segments = [LEVELS[level_code]]
    codewords = field("CODE").split()
    if codewords:
        segments.append("/".join(codewords))
    controls = field("CTLH").replace("/", " ").split()
    releasable = field("REL").split()
    if releasable:
        # A US-system file lists the partners; USA, the owner, is implicit. Adding it loosens nothing:
        # REL TO narrows only what non-US readers see.
        countries = ["USA", *(c for c in releasable if c.upper() != "USA")]
        controls.append("REL TO " + ", ".join(countries))
    if controls:
        segments.append("/".join(controls))
    text = "//".join(segments)
    try:
        return parse_marking(text, registry)
    except MarkingError as exc:
        raise SecurityMarkingError(f"{where}: security fields do not form a valid marking: {exc}") from None


def image_segment_tags(path: Path, subdatasets: list[str]) -> list[tuple[str, dict[str, str]]]:
    tags = []
    for name in subdatasets:
        if not name.startswith("NITF_IM:"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(name) as segment:
                tags.append((f"{path} image segment {name.split(':')[1]}", dict(segment.tags())))
    return tags


def nitf_marking(source: Any, registry: MarkingRegistry | None = None) -> Marking:
    """The roll-up of the file header's and every image segment's security fields of an open NITF dataset."""
    path = Path(source.name)
    file_tags = dict(source.tags())
    markings = [segment_marking(file_tags, "FS", f"{path} file header", registry)]
    segments = image_segment_tags(path, list(source.subdatasets)) or [(f"{path} image segment 0", file_tags)]
    markings.extend(segment_marking(tags, "IS", where, registry) for where, tags in segments)
    return roll_up(markings)


def nitf_security_fields(marking: Marking) -> dict[str, str]:
    """GDAL NITF creation options (file and image header) that :func:`nitf_marking` reads back as ``marking``.

    The fields are short (FSCTLH is 2 characters, FSREL 20), so a marking with more than one handling control
    or a long REL TO list does not fit; that is refused rather than truncated.
    """
    level = LEVEL_CODES[marking.classification.name]
    controls = sorted(CONTROL_CODES.get(c, c) for c in marking.dissemination if c != "REL")
    countries = [c for c in sorted(marking.rel_to) if c != "USA"]
    fields = {
        "CLAS": level,
        "CODE": " ".join(sorted(marking.sci_controls)),
        "CTLH": " ".join(controls),
        "REL": " ".join(countries),
    }
    limits = {"CODE": 11, "CTLH": 2, "REL": 20}
    for name, limit in limits.items():
        if len(fields[name]) > limit:
            raise SecurityMarkingError(
                f"{marking.banner()} does not fit the NITF {name} field ({limit} characters)"
            )
    return {f"{prefix}{name}": value for prefix in ("FS", "IS") for name, value in fields.items() if value}
