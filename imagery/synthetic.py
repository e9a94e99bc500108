"""Seeded synthetic satellite scenes for the demo, the tests and the benchmarks.

Real imagery cannot ship with an open-source project (and classified imagery never leaves its network), so
GeoLabel makes its own: multi-octave spatially correlated texture (terrain-like variation, field-like
patches with sharp edges), bands correlated as in a visible/NIR sensor, plus per-pixel sensor noise. The
texture matters for benchmarks: smooth fields or constants compress far better than imagery and would
flatter every figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

#: Feature sizes in pixels of the texture octaves, coarse to fine, and their amplitudes in DN.
OCTAVES = ((2048, 450.0), (512, 350.0), (128, 250.0), (32, 150.0), (8, 80.0))
#: Mean reflectance (DN) and gain of each band over the common texture: blue, green, red, near-infrared.
BAND_MEANS = (900.0, 1100.0, 1200.0, 2600.0)
BAND_GAINS = (0.6, 0.7, 0.8, 1.3)
#: Land-cover classes (water, vegetation, bare soil, built-up) and their offset per band (DN).
COVER_OFFSETS = np.array(
    [
        [-300.0, -450.0, -600.0, -2000.0],
        [-250.0, 150.0, -350.0, 1400.0],
        [200.0, 300.0, 500.0, 300.0],
        [600.0, 600.0, 650.0, 100.0],
    ],
    dtype=np.float32,
)
SENSOR_NOISE_DN = 25.0
WRITE_BLOCK = 2048
BAND_NAMES = ("blue", "green", "red", "nir")


@dataclass(frozen=True, slots=True)
class SceneSpec:
    width: int
    height: int
    bands: int = 4
    dtype: str = "uint16"
    crs: str = "EPSG:32633"
    origin: tuple[float, float] = (399960.0, 4500000.0)
    pixel_size: float = 10.0
    seed: int = 0
    nodata: float | None = None
    driver: str = "GTiff"
    creation_options: dict[str, Any] = field(
        default_factory=lambda: {
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
            "compress": "deflate",
            "predictor": 2,
            "zlevel": 6,
        }
    )
    tags: dict[str, str] = field(default_factory=dict)


def _octave_grids(spec: SceneSpec, rng: np.random.Generator) -> list[tuple[int, float, np.ndarray]]:
    grids = []
    for size, amplitude in OCTAVES:
        shape = (spec.height // size + 3, spec.width // size + 3)
        grids.append((size, amplitude, rng.standard_normal(shape, dtype=np.float32)))
    return grids


def _bilinear(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    r0, c0 = np.floor(rows).astype(np.intp), np.floor(cols).astype(np.intp)
    fr, fc = (rows - r0).astype(np.float32)[:, None], (cols - c0).astype(np.float32)[None, :]
    top = grid[np.ix_(r0, c0)] * (1 - fc) + grid[np.ix_(r0, c0 + 1)] * fc
    bottom = grid[np.ix_(r0 + 1, c0)] * (1 - fc) + grid[np.ix_(r0 + 1, c0 + 1)] * fc
    result: np.ndarray = top * (1 - fr) + bottom * fr
    return result


def render_block(spec: SceneSpec, grids: list[tuple[int, float, np.ndarray]], window: Window) -> np.ndarray:
    """Pixels of one window; a pure function of the spec, so blocks can be rendered in any order."""
    rows = np.arange(window.row_off, window.row_off + window.height, dtype=np.float64)
    cols = np.arange(window.col_off, window.col_off + window.width, dtype=np.float64)
    terrain = np.zeros((window.height, window.width), dtype=np.float32)
    for size, amplitude, grid in grids:
        terrain += amplitude * _bilinear(grid, rows / size, cols / size)
    # Field-like patches: quantise the mid-scale texture so land cover changes with sharp edges.
    cover = np.clip(np.floor(_bilinear(grids[1][2], rows / 512, cols / 512) * 1.5 + 2.0), 0, 3).astype(
        np.intp
    )
    block_seed = (spec.seed, int(window.row_off), int(window.col_off))
    rng = np.random.default_rng(block_seed)
    info = np.iinfo(spec.dtype) if np.issubdtype(np.dtype(spec.dtype), np.integer) else None
    out = np.empty((spec.bands, window.height, window.width), dtype=spec.dtype)
    for band in range(spec.bands):
        mean = BAND_MEANS[band % len(BAND_MEANS)]
        gain = BAND_GAINS[band % len(BAND_GAINS)]
        noise = rng.standard_normal((window.height, window.width), dtype=np.float32) * SENSOR_NOISE_DN
        offsets = COVER_OFFSETS[:, band % COVER_OFFSETS.shape[1]]
        values = mean + gain * terrain + offsets[cover] + noise
        if info is not None:
            scale = 1.0 if info.max > 255 else 255.0 / 4095.0
            values = np.clip(values * scale, info.min, info.max)
        out[band] = values.astype(spec.dtype)
    return out


def write_scene(path: str | Path, spec: SceneSpec) -> Path:
    """Write the scene described by ``spec`` to ``path`` with rasterio and return the path."""
    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    grids = _octave_grids(spec, rng)
    profile: dict[str, Any] = {
        "driver": spec.driver,
        "width": spec.width,
        "height": spec.height,
        "count": spec.bands,
        "dtype": spec.dtype,
        "crs": spec.crs,
        "transform": from_origin(spec.origin[0], spec.origin[1], spec.pixel_size, spec.pixel_size),
        "nodata": spec.nodata,
        **spec.creation_options,
    }
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(out_path, "w", **profile) as dst:
        if spec.driver == "GTiff":
            dst.update_tags(**spec.tags)
            if spec.bands == len(BAND_NAMES):
                dst.descriptions = BAND_NAMES
        for row in range(0, spec.height, WRITE_BLOCK):
            for col in range(0, spec.width, WRITE_BLOCK):
                window = Window(
                    col, row, min(WRITE_BLOCK, spec.width - col), min(WRITE_BLOCK, spec.height - row)
                )
                dst.write(render_block(spec, grids, window), window=window)
    return out_path


def sample_scene_spec(size: int, *, nitf_fields: dict[str, str] | None = None, seed: int = 0) -> SceneSpec:
    """A demo scene: a UTM GeoTIFF, or with ``nitf_fields`` (security header options) a NITF in EPSG:4326."""
    tags = {"ACQUISITION_DATETIME": "2026-06-01T10:30:00Z", "SENSOR": "GEOLABEL-SYNTH"}
    if nitf_fields is None:
        return SceneSpec(width=size, height=size, seed=seed, tags=tags)
    options = {
        "ICORDS": "G",
        "IC": "NC",
        "BLOCKXSIZE": 512,
        "BLOCKYSIZE": 512,
        "IDATIM": "20260601103000",
        "ISORCE": "GEOLABEL-SYNTH",
        **nitf_fields,
    }
    return SceneSpec(
        width=size,
        height=size,
        seed=seed,
        crs="EPSG:4326",
        origin=(44.36, 33.34),
        pixel_size=1e-5,
        driver="NITF",
        creation_options=options,
    )
