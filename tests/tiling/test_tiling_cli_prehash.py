"""`geo-label tile` hashes its image while starting up; the hash is used only for the very file hashed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from geo_label.cli import prehash


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
