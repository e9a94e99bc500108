"""Chips encoded by tiling.chip_tiff are the files GDAL would have written: same header, same pixels."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.transform import Affine, from_origin
from rasterio.windows import Window

import tiling.cells
import tiling.chip
from tiling import Compression, TileParameters, tile_image
from tiling.chip_tiff import (
    TILE_BYTE_COUNTS,
    TILE_OFFSETS,
    ChipTiffLayout,
    ChipTiffWriter,
    placeholder,
    read_template,
)


@pytest.fixture
def written_by(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path GDAL copies a chip to (the in-memory templates included)."""
    targets: list[str] = []
    copy = tiling.chip.copy_dataset

    def recording_copy(source: Any, target: str, **options: Any) -> None:
        targets.append(target)
        copy(source, target, **options)

    monkeypatch.setattr(tiling.chip, "copy_dataset", recording_copy)
    return targets


def tile_with_gdal_only(image: Path, out: Path, params: TileParameters) -> None:
    """The same run with every chip written by GDAL: the templates vouch for nothing (and the run says so)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ChipTiffLayout, "from_template", classmethod(lambda cls, *args, **kwargs: None))
        summary = tile_image(image, out, params, marking="SECRET//REL TO USA, GBR")
    assert summary.chips_by_gdal == summary.chips_written > 0
    assert f"({summary.chips_by_gdal} by GDAL)" in summary.describe()


def assert_ghost_blocks(path: Path) -> None:
    """Every tile is framed as GDAL's COG driver frames it (BLOCK_LEADER=SIZE_AS_UINT4,
    BLOCK_TRAILER=LAST_4_BYTES_REPEATED): its size before it, its own last four bytes after it."""
    data = path.read_bytes()
    with rasterio.open(path) as chip:
        rows, cols = chip.block_shapes[0]
        blocks = {
            (
                int(chip.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=band)),
                int(chip.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=band)),
            )
            for band in range(1, chip.count + 1)
            for y in range(-(-chip.height // rows))
            for x in range(-(-chip.width // cols))
        }
    for offset, size in blocks:
        assert int.from_bytes(data[offset - 4 : offset], "little") == size, (path.name, offset)
        assert data[offset + size : offset + size + 4] == data[offset + size - 4 : offset + size], (
            path.name,
            offset,
        )


def assert_same_chip(ours: Path, gdals: Path) -> None:
    assert_ghost_blocks(gdals)
    assert_ghost_blocks(ours)  # the trailer once held four bytes past the tile: memory never written
    ours_bytes, gdal_bytes = ours.read_bytes(), gdals.read_bytes()
    ours_layout, gdal_layout = read_template(ours_bytes), read_template(gdal_bytes)
    assert ours_layout is not None and gdal_layout is not None
    assert ours_layout[0] == gdal_layout[0], "GDAL's structural metadata"
    per_file = {TILE_OFFSETS, TILE_BYTE_COUNTS}
    assert {t: e for t, e in ours_layout[1].items() if t not in per_file} == {
        t: e for t, e in gdal_layout[1].items() if t not in per_file
    }
    with rasterio.open(ours) as a, rasterio.open(gdals) as b:
        assert a.profile == b.profile
        for namespace in (None, "IMAGE_STRUCTURE"):
            assert a.tags(ns=namespace) == b.tags(ns=namespace)
        assert a.descriptions == b.descriptions and a.colorinterp == b.colorinterp
        np.testing.assert_array_equal(a.read(), b.read())
        np.testing.assert_array_equal(a.dataset_mask(), b.dataset_mask())


@pytest.mark.parametrize(
    ("image", "params"),
    [
        ("utm_image", TileParameters(size=256, overlap=32)),  # uint16, 4 bands, one tile per chip
        ("utm_image", TileParameters(size=600, overlap=100)),  # 2 x 2 tiles, the outer ones partial
        ("rgb_image", TileParameters(size=200, overlap=8)),  # uint8 RGB, a 208 px tile for 200 px
        ("holes_image", TileParameters(size=200, overlap=0)),  # float32 with nodata, empty chips skipped
    ],
)
def test_chips_encoded_here_equal_gdals(
    image: str,
    params: TileParameters,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    written_by: list[str],
) -> None:
    source: Path = request.getfixturevalue(image)
    summary = tile_image(source, tmp_path / "ours", params, marking="SECRET//REL TO USA, GBR")
    assert all(target.startswith("/vsimem/") for target in written_by), written_by
    assert summary.chips_by_gdal == 0 and "by GDAL" not in summary.describe()  # a run says which writer
    tile_with_gdal_only(source, tmp_path / "gdal", params)
    chips = sorted((tmp_path / "ours" / "chips").glob("*.tif"))
    assert chips and [p.name for p in chips] == [
        p.name for p in sorted((tmp_path / "gdal/chips").glob("*.tif"))
    ]
    for chip in chips:
        assert_same_chip(chip, tmp_path / "gdal" / "chips" / chip.name)
    assert (tmp_path / "ours" / "index.parquet").read_bytes() == (
        tmp_path / "gdal" / "index.parquet"
    ).read_bytes()


def test_masked_chips_and_deflate_are_left_to_gdal(
    rgb_image: Path, tmp_path: Path, written_by: list[str]
) -> None:
    tile_image(rgb_image, tmp_path / "masked", TileParameters(size=1024, overlap=0))
    assert any("/chips/" in target for target in written_by), "the padded chip with its mask"
    written_by.clear()
    tile_image(rgb_image, tmp_path / "deflate", TileParameters(size=256, compression=Compression.DEFLATE))
    assert written_by and not any(target.startswith("/vsimem/") for target in written_by), "no template"


def gdal_template(tmp_path: Path, transform: Affine, *, mask: bool = False, **options: Any) -> bytes:
    """A 32 x 32, 2-band uint16 chip as GDAL copies it in the COG layout, with one placeholder item."""
    source = tmp_path / "source.tif"
    profile = {
        "driver": "GTiff",
        "width": 32,
        "height": 32,
        "count": 2,
        "dtype": "uint16",
        "crs": "EPSG:32633",
    }
    with rasterio.open(source, "w", transform=transform, **profile) as dst:
        dst.write(np.zeros((2, 32, 32), np.uint16))
        dst.update_tags(KEY=placeholder("KEY"))
        if mask:
            dst.write_mask(np.ones((32, 32), bool))
    layout = {"tiled": True, "blockxsize": 32, "blockysize": 32, **options}
    with rasterio.open(source) as src:
        rasterio.shutil.copy(src, tmp_path / "chip.tif", driver="GTiff", copy_src_overviews=True, **layout)
    return (tmp_path / "chip.tif").read_bytes()


NORTH_UP = from_origin(400000.0, 4500000.0, 10.0, 10.0)


@pytest.mark.parametrize(
    ("transform", "mask", "options"),
    [
        (NORTH_UP, False, {"compress": "DEFLATE", "predictor": 2}),
        (Affine(10.0, 2.0, 400000.0, 1.0, -10.0, 4500000.0), False, {"compress": "ZSTD", "predictor": 2}),
        (NORTH_UP, False, {"compress": "ZSTD", "tiled": False}),
        (NORTH_UP, True, {"compress": "ZSTD", "predictor": 2}),
    ],
    ids=["deflate", "rotated", "stripped", "masked"],
)
def test_templates_this_module_cannot_reproduce_give_no_layout(
    tmp_path: Path, transform: Affine, mask: bool, options: dict[str, Any]
) -> None:
    data = gdal_template(tmp_path, transform, mask=mask, **options)
    layout = ChipTiffLayout.from_template(
        data, transform=transform, dtype="uint16", bands=2, metadata_keys=("KEY",), zstd_level=1
    )
    assert layout is None


def test_metadata_values_xml_would_escape_are_left_to_gdal(tmp_path: Path) -> None:
    transform = NORTH_UP
    data = gdal_template(tmp_path, transform, compress="ZSTD", predictor=2)
    layout = ChipTiffLayout.from_template(
        data, transform=transform, dtype="uint16", bands=2, metadata_keys=("KEY",), zstd_level=1
    )
    assert layout is not None
    assert layout.can_write({"KEY": "SECRET//REL TO USA, GBR"})
    assert not layout.can_write({"KEY": "A & B"}) and not layout.can_write({"KEY": "<x>"})
    assert not layout.can_write({"OTHER": "value"}), "other metadata than the template's"
    chunks = ChipTiffWriter(layout).chunks(np.ones((2, 32, 32), np.uint16), transform, {"KEY": "a value"})
    (tmp_path / "chip.tif").write_bytes(b"".join(bytes(chunk) for chunk in chunks))
    with rasterio.open(tmp_path / "chip.tif") as chip:
        assert chip.tags()["KEY"] == "a value" and chip.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert (chip.read() == 1).all() and chip.transform == transform


DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from(DTYPES),
    bands=st.integers(1, 5),
    width=st.integers(40, 300),
    height=st.integers(40, 300),
    size=st.integers(16, 160),
    overlap_fraction=st.floats(0.0, 0.5),
    cell=st.sampled_from([16, 32, 48, 2048]),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_chip_holds_its_source_window_exactly(
    dtype: str,
    bands: int,
    width: int,
    height: int,
    size: int,
    overlap_fraction: float,
    cell: int,
    seed: int,
) -> None:
    """Whatever the sample type, bands, chip grid and cells (small cells: chips copied out of many), every
    chip decodes to its source window."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, (bands, height, width), endpoint=True, dtype=dtype)
    else:
        data = (rng.normal(0.0, 1e6, (bands, height, width)) * rng.random((bands, height, width))).astype(
            dtype
        )
    params = TileParameters(size=size, overlap=int(size * overlap_fraction))
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiling.cells, "MIN_CELL_ROWS", cell)
        patch.setattr(tiling.cells, "MIN_CELL_COLS", cell)
        source = Path(folder) / "source.tif"
        profile = {"driver": "GTiff", "width": width, "height": height, "count": bands, "dtype": dtype}
        blocks = {"tiled": True, "blockxsize": 16, "blockysize": 16}
        with rasterio.open(
            source, "w", crs="EPSG:32633", transform=from_origin(4e5, 45e5, 3.0, 3.0), **profile, **blocks
        ) as dst:
            dst.write(data)
        summary = tile_image(source, Path(folder) / "out", params)
        for chip_path in sorted((Path(folder) / "out" / "chips").glob("*.tif")):
            row, col = (int(part[1:]) for part in chip_path.stem.split("_"))
            with rasterio.open(chip_path) as chip:
                inside = Window(col, row, min(size, width - col), min(size, height - row))
                pixels = chip.read(window=Window(0, 0, inside.width, inside.height))
                np.testing.assert_array_equal(
                    pixels, data[:, row : row + inside.height, col : col + inside.width]
                )
                assert chip.transform == from_origin(4e5 + 3.0 * col, 45e5 - 3.0 * row, 3.0, 3.0)
        assert summary.chips_written == len(list((Path(folder) / "out" / "chips").glob("*.tif")))
