"""`geo-label tile` hashes its image while starting up; the hash is used only for the very file hashed."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

import tiling.pipeline
from geo_label.cli import idle_blas, prehash
from imagery import image_stretch
from tiling import TileParameters, tile_image


@pytest.mark.parametrize(
    ("argv", "image"),
    [
        (["geo-label", "tile", "a.tif", "--out", "o"], "a.tif"),
        (["geo-label", "tile", "--out", "o", "--size", "256", "a.tif"], "a.tif"),
        (["geo-label", "tile", "--out=o", "--processes", "a.tif"], "a.tif"),
        (["geo-label", "tile", "--marking", "SECRET//NOFORN", "--compress", "zstd", "--", "a.tif"], "a.tif"),
        (["geo-label", "tile", "--out", "o"], None),
        (["geo-label", "inspect", "a.tif"], None),
    ],
)
def test_the_image_argument_is_found(argv: list[str], image: str | None) -> None:
    assert prehash.image_argument(argv) == image


def test_every_valued_tile_option_is_known() -> None:
    from geo_label.cli import imagery_commands

    options = {
        name
        for param in imagery_commands.tile.__annotations__
        if param not in ("image", "return", "processes")
        for name in [f"--{param.replace('_', '-')}"]
    }
    assert options == prehash.VALUE_OPTIONS


def test_the_hash_is_used_only_for_the_unchanged_file(tmp_path: Path) -> None:
    image = tmp_path / "scene.tif"
    image.write_bytes(os.urandom(3 << 20))
    assert prehash.result(image) is None, "nothing started"
    prehash.start(image)
    assert prehash.result(image) == hashlib.sha256(image.read_bytes()).hexdigest()
    image.write_bytes(os.urandom(2 << 20))
    assert prehash.result(image) is None, "the file changed since"
    prehash.start(tmp_path / "missing.tif")
    assert prehash.result(tmp_path / "missing.tif") is None


def test_the_hash_is_computed_in_a_child_process(tmp_path: Path) -> None:
    image = tmp_path / "scene.tif"
    image.write_bytes(os.urandom(5 << 20))
    assert prehash.sha256_in_child(str(image)) == hashlib.sha256(image.read_bytes()).hexdigest()
    with pytest.raises(OSError, match="child process"):
        prehash.sha256_in_child(str(tmp_path / "gone.tif"))
    empty = tmp_path / "empty.tif"
    empty.touch()
    assert prehash.sha256_in_child(str(empty)) == hashlib.sha256(b"").hexdigest()


def test_a_failed_hashing_child_leaves_the_hash_to_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "scene.tif"
    image.write_bytes(os.urandom(1 << 20))
    monkeypatch.setattr(prehash.sys, "executable", shutil.which("false"))
    prehash.start(image)
    assert prehash.result(image) is None


def test_the_stretch_is_computed_ahead_for_the_unchanged_file_only(utm_image: Path, tmp_path: Path) -> None:
    image = tmp_path / "scene.tif"
    shutil.copyfile(utm_image, image)
    prehash.start(image)
    assert prehash.stretch(image) == image_stretch(image)
    os.utime(image, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert prehash.stretch(image) is None, "the file changed since"


def test_a_stretch_that_fails_ahead_is_left_to_the_command(tmp_path: Path) -> None:
    not_a_raster = tmp_path / "notes.tif"
    not_a_raster.write_bytes(b"not a raster" * 1000)
    prehash.start(not_a_raster)
    assert prehash.stretch(not_a_raster) is None
    assert prehash.result(not_a_raster) == hashlib.sha256(not_a_raster.read_bytes()).hexdigest()


def test_a_stretch_known_ahead_spares_computing_it(
    utm_image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = image_stretch(utm_image)

    def not_again(source: Path) -> None:
        raise AssertionError("computed although known")

    monkeypatch.setattr(tiling.pipeline, "image_stretch", not_again)
    summary = tile_image(utm_image, tmp_path / "known", TileParameters(size=256), stretch=lambda: known)
    assert summary.chips_written > 0
    monkeypatch.undo()
    unknown = tile_image(utm_image, tmp_path / "unknown", TileParameters(size=256), stretch=lambda: None)
    previews = sorted((tmp_path / "known" / "previews").iterdir())
    assert [p.read_bytes() for p in previews] == [
        (tmp_path / "unknown" / "previews" / p.name).read_bytes() for p in previews
    ] and unknown.chips_written == summary.chips_written


def test_tile_asks_for_one_blas_thread_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    idle_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    idle_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
