"""NITF security header fields (file header FS*, image segments IS*) to a rolled-up marking, on real files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import rasterio

from access_control import Classification, MarkingRegistry, load_registry, parse_marking
from imagery import SecurityMarkingError, inspect_image
from tests.imagery.conftest import nitf_two_segments


def banner(path: Path, registry: MarkingRegistry | None = None) -> str:
    marking = inspect_image(path, registry, statistics=False).marking
    assert marking is not None
    return marking.banner()


def test_top_secret_sci_noforn_file_header(nitf_file: Callable[..., Path]) -> None:
    path = nitf_file(FSCLAS="T", FSCODE="SI TK", FSCTLH="NF")
    assert banner(path) == "TOP SECRET//SI/TK//NOFORN"


def test_same_fields_in_file_header_and_image_segment(nitf_file: Callable[..., Path]) -> None:
    fields = {"CLAS": "T", "CODE": "SI TK", "CTLH": "NF"}
    path = nitf_file(**{f"{p}{k}": v for p in ("FS", "IS") for k, v in fields.items()})
    assert banner(path) == "TOP SECRET//SI/TK//NOFORN"


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("U", Classification.UNCLASSIFIED),
        ("C", Classification.CONFIDENTIAL),
        ("S", Classification.SECRET),
        ("T", Classification.TOP_SECRET),
    ],
)
def test_classification_codes(nitf_file: Callable[..., Path], code: str, level: Classification) -> None:
    marking = inspect_image(nitf_file(FSCLAS=code, ISCLAS=code), statistics=False).marking
    assert marking is not None
    assert marking.classification is level
    # Classified with no REL TO is NOFORN (MARKINGS.md); unclassified stays bare.
    assert marking.is_noforn is (level > Classification.UNCLASSIFIED)


def test_releasability_list_becomes_rel_to_with_usa_first(nitf_file: Callable[..., Path]) -> None:
    assert banner(nitf_file(FSCLAS="S", FSREL="GBR AUS")) == "SECRET//REL TO USA, AUS, GBR"
    # USA in the field is the same list, not a duplicate.
    assert banner(nitf_file(FSCLAS="S", FSREL="USA GBR AUS")) == "SECRET//REL TO USA, AUS, GBR"


def test_image_segment_more_restrictive_than_file_header_raises_the_roll_up(
    nitf_file: Callable[..., Path],
) -> None:
    assert banner(nitf_file(FSCLAS="C", ISCLAS="S")) == "SECRET//NOFORN"
    under_marked = nitf_file(FSCLAS="S", FSREL="GBR AUS", ISCLAS="S", ISCODE="SI", ISCTLH="NF")
    assert banner(under_marked) == "SECRET//SI//NOFORN"
    # A narrower REL TO list in the segment narrows the file's.
    narrower = nitf_file(FSCLAS="S", FSREL="GBR AUS", ISCLAS="S", ISREL="GBR")
    assert banner(narrower) == "SECRET//REL TO USA, GBR"


def test_the_file_marking_dominates_every_header(nitf_file: Callable[..., Path]) -> None:
    path = nitf_file(FSCLAS="S", FSREL="GBR AUS", ISCLAS="C", ISCODE="TK", ISREL="GBR")
    marking = inspect_image(path, statistics=False).marking
    assert marking is not None
    assert marking == parse_marking("SECRET//TK//REL TO USA, GBR")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"FSCLAS": "R"}, "FSCLAS='R'"),  # restricted: not a US level
        ({"FSCLAS": "S", "FSCODE": "ZZ"}, "'ZZ'"),  # unknown codeword
        ({"FSCLAS": "S", "FSCLSY": "GB"}, "FSCLSY='GB'"),  # foreign classification system
        ({"FSCLAS": "S", "FSCTLH": "NF", "FSREL": "GBR"}, "NOFORN"),  # NOFORN yet releasable
        ({"FSCLAS": "S", "FSREL": "XXX"}, "'XXX'"),  # unknown country
        ({"FSCLAS": "U", "FSCODE": "SI"}, "'SI'"),  # SCI at UNCLASSIFIED
        ({"FSCLAS": "S", "FSCTLH": "ZZ"}, "'ZZ'"),  # unknown control
        ({"FSCLAS": "S", "ISCLAS": "R"}, "ISCLAS='R'"),  # the image segment's fields count too
        ({"FSCLAS": "S", "ISCLAS": "S", "ISCLSY": "NATO"}, "ISCLSY="),
    ],
)
def test_unmappable_fields_are_an_error_never_unclassified(
    nitf_file: Callable[..., Path], fields: dict[str, str], message: str
) -> None:
    path = nitf_file(**fields)
    with pytest.raises(SecurityMarkingError) as raised:
        inspect_image(path)
    text = str(raised.value)
    assert message in text
    assert str(path) in text
    assert ("image segment" if "ISCLAS" in fields else "file header") in text
    assert "\n" not in text


def test_a_deployment_registry_decides_which_codewords_exist(
    nitf_file: Callable[..., Path], tmp_path: Path
) -> None:
    registry_file = tmp_path / "registry.toml"
    registry_file.write_text(
        'sci_controls = ["SI"]\n'
        'countries = ["USA", "GBR", "AUS"]\n'
        'accredited_max = "TOP SECRET//SI//NOFORN"\n'
        "[tetragraphs]\n",
        encoding="utf-8",
    )
    registry = load_registry(registry_file)
    assert banner(nitf_file(FSCLAS="T", FSCODE="SI", FSCTLH="NF"), registry) == "TOP SECRET//SI//NOFORN"
    with pytest.raises(SecurityMarkingError, match="'TK'"):
        inspect_image(nitf_file(FSCLAS="T", FSCODE="SI TK", FSCTLH="NF"), registry, statistics=False)


@pytest.fixture(scope="module")
def two_segment_files(imagery_dir: Path) -> dict[str, Path]:
    """NITFs with two image segments; skips if this GDAL cannot write a second one with its own ISCLAS."""
    files = {
        "raised": nitf_two_segments(
            imagery_dir / "two_raised.ntf",
            {"FSCLAS": "S", "FSREL": "GBR", "ISCLAS": "U"},
            {"ISCLAS": "T", "ISCODE": "SI", "ISCTLH": "NF"},
        ),
        "unmappable": nitf_two_segments(
            imagery_dir / "two_unmappable.ntf", {"FSCLAS": "S", "ISCLAS": "S"}, {"ISCLAS": "R"}
        ),
    }
    with rasterio.open(files["raised"]) as src:
        segments = list(src.subdatasets)
    if len(segments) != 2:
        pytest.skip(f"GDAL wrote {len(segments)} image segments with NUMI=2 and APPEND_SUBDATASET=YES")
    with rasterio.open(segments[1]) as second:
        if second.tags().get("NITF_ISCLAS") != "T":
            pytest.skip("GDAL did not keep the second image segment's own ISCLAS")
    return files


def test_second_image_segment_raises_the_roll_up(two_segment_files: dict[str, Path]) -> None:
    path = two_segment_files["raised"]
    with rasterio.open(path) as src:
        assert src.tags()["NITF_ISCLAS"] == "U"  # what a reader of the first segment alone would see
    assert banner(path) == "TOP SECRET//SI//NOFORN"


def test_unmappable_second_image_segment_is_an_error(two_segment_files: dict[str, Path]) -> None:
    with pytest.raises(SecurityMarkingError, match=r"image segment 1: ISCLAS='R'"):
        inspect_image(two_segment_files["unmappable"])
