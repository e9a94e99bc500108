"""`geo-label tile`: a summary line on success; one line and a non-zero exit for every user mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import rasters


def geo_label(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo_label", *args], capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_summary_line_says_what_was_done(utm_image: Path, tmp_path: Path) -> None:
    result = geo_label("tile", str(utm_image), "--out", str(tmp_path), "--size", "256", "--marking", "S//NF")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("tiled utm_uint16.tif [SECRET//NOFORN]: 30 chips written, 0 skipped")
    assert "MB/s of source pixels" in line
    again = geo_label("tile", str(utm_image), "--out", str(tmp_path), "--size", "256", "--marking", "S//NF")
    assert "already complete" in again.stdout


def test_nitf_marking_is_a_floor_the_operator_cannot_lower(tmp_path: Path) -> None:
    image = rasters.nitf(tmp_path / "secret.ntf", FSCLAS="S", ISCLAS="S", FSCTLH="NF", ISCTLH="NF")
    lowered = geo_label("tile", str(image), "--out", str(tmp_path / "a"), "--marking", "UNCLASSIFIED")
    assert_one_line_error(lowered, "SECRET//NOFORN", "would lower")
    assert not (tmp_path / "a").exists(), "nothing written for a refused run"
    raised = geo_label("tile", str(image), "--out", str(tmp_path / "b"), "--marking", "TS//SI//NOFORN")
    assert raised.returncode == 0, raised.stderr
    assert "[TOP SECRET//SI//NOFORN]" in raised.stdout
    kept = geo_label("tile", str(image), "--out", str(tmp_path / "c"))
    assert "[SECRET//NOFORN]" in kept.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--size", "256", "--overlap", "256"], "--overlap (256) must be smaller than --size (256)"),
        (["--marking", "SECRET//BOGUS"], "BOGUS"),
        (["--marking", "SECRET//NOFORN/REL TO USA, GBR"], "contradict"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    utm_image: Path, tmp_path: Path, args: list[str], fragment: str
) -> None:
    assert_one_line_error(geo_label("tile", str(utm_image), "--out", str(tmp_path / "o"), *args), fragment)


def test_missing_image_is_a_one_line_error(tmp_path: Path) -> None:
    assert_one_line_error(
        geo_label("tile", str(tmp_path / "nope.tif"), "--out", str(tmp_path)), "no such file"
    )


def test_unwritable_output_is_a_one_line_error(utm_image: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert_one_line_error(
        geo_label("tile", str(utm_image), "--out", str(blocker / "out")), "geo-label: error:"
    )


def test_usage_errors_exit_2_without_traceback(utm_image: Path) -> None:
    result = geo_label("tile", str(utm_image))
    assert result.returncode == 2 and "Traceback" not in result.stderr and "--out" in result.stderr
