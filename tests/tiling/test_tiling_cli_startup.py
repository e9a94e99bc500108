"""`geo-label tile` hashes its image once, in the run's pool, and recognises it again by its file stamp."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

import tiling.pipeline
from geo_label.cli import idle_blas
from tiling import OutputConflictError, TileParameters, tile_image
from tiling.state import file_sha256, read_manifest


def test_the_hash_is_the_files_sha256(tmp_path: Path) -> None:
    image = tmp_path / "scene.tif"
    image.write_bytes(os.urandom(3 << 20))
    assert file_sha256(image) == hashlib.sha256(image.read_bytes()).hexdigest()
    empty = tmp_path / "empty.tif"
    empty.touch()
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()


def test_a_run_again_over_the_unchanged_file_does_not_hash_it_again(
    utm_image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    first = tile_image(utm_image, out, TileParameters(size=256))
    manifest = read_manifest(out)
    assert manifest is not None and manifest["image_sha256"] == file_sha256(utm_image)

    def not_again(path: Path) -> str:
        raise AssertionError("hashed although the manifest knows the file")

    monkeypatch.setattr(tiling.pipeline, "file_sha256", not_again)
    again = tile_image(utm_image, out, TileParameters(size=256))
    assert again.already_complete and again.chips_total == first.chips_total


def test_a_changed_file_under_the_same_name_is_hashed_again_and_refused(
    utm_image: Path, rgb_image: Path, tmp_path: Path
) -> None:
    image = tmp_path / "scene.tif"
    shutil.copyfile(utm_image, image)
    out = tmp_path / "out"
    tile_image(image, out, TileParameters(size=256))
    shutil.copyfile(rgb_image, image)  # another image, same path: its stamp no longer matches the manifest
    with pytest.raises(OutputConflictError, match="another image"):
        tile_image(image, out, TileParameters(size=256))


def test_tile_asks_for_one_blas_thread_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    idle_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    idle_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
