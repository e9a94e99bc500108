"""Display contrast for 8-bit previews: one stretch per image, so every chip of it looks the same."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from rasterio.enums import ColorInterp
from rasterio.windows import Window

LOW_PERCENTILE = 2.0
HIGH_PERCENTILE = 98.0
#: Blocks sampled for statistics when the image has no overviews: 16 blocks of 512 x 512 give 4 million
#: pixels per band, ample for stable percentiles, for under 2% of a Sentinel-2-sized scene's I/O.
SAMPLE_BLOCKS = 16
#: Longest side of the overview read for statistics when overviews exist.
OVERVIEW_SIDE = 1024

RGB_NAMES = ("red", "green", "blue")


@dataclass(frozen=True, slots=True)
class DisplayStretch:
    """Linear stretch of chosen bands (1-based indexes) from [low, high] to [0, 255]."""

    bands: tuple[int, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    def apply(self, data: np.ndarray) -> np.ndarray:
        """Stretch ``data`` (bands x rows x cols, the chosen bands in order) to uint8."""
        out = np.empty(data.shape, dtype=np.uint8)
        for i in range(data.shape[0]):
            low, high = self.low[i], self.high[i]
            scale = 255.0 / (high - low) if high > low else 0.0
            band = (data[i].astype(np.float32) - np.float32(low)) * np.float32(scale)
            np.clip(band, 0.0, 255.0, out=band)
            out[i] = np.nan_to_num(band, nan=0.0).astype(np.uint8)
        return out

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        return {"bands": list(self.bands), "low": list(self.low), "high": list(self.high)}


def choose_display_bands(dataset: Any) -> tuple[int, ...]:
    """RGB when the colour interpretation or band descriptions say which bands are red, green and blue;
    otherwise the first three bands, or the single band of a panchromatic image."""
    interp = list(dataset.colorinterp)
    wanted = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    if all(c in interp for c in wanted):
        return tuple(interp.index(c) + 1 for c in wanted)
    descriptions = [(d or "").strip().lower() for d in dataset.descriptions]
    if all(name in descriptions for name in RGB_NAMES):
        return tuple(descriptions.index(name) + 1 for name in RGB_NAMES)
    return (1, 2, 3) if dataset.count >= 3 else (1,)


def sample_windows(width: int, height: int, block_width: int, block_height: int) -> list[Window]:
    """Up to :data:`SAMPLE_BLOCKS` internal blocks spread in an even grid over the image."""
    blocks_x, blocks_y = math.ceil(width / block_width), math.ceil(height / block_height)
    per_side = max(1, math.isqrt(SAMPLE_BLOCKS))
    # Spread over the blocks there are, so every block column of an image 2 or 3 blocks wide is sampled.
    across, down = min(per_side, blocks_x), min(per_side, blocks_y)
    xs = sorted({i * blocks_x // across for i in range(across)})
    ys = sorted({j * blocks_y // down for j in range(down)})
    # The last block too: in a truncated file it is the one missing.
    cells = sorted({(by, bx) for by in ys for bx in xs} | {(blocks_y - 1, blocks_x - 1)})
    return [
        Window(
            bx * block_width,
            by * block_height,
            min(block_width, width - bx * block_width),
            min(block_height, height - by * block_height),
        )
        for by, bx in cells
    ]


def valid_mask(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """True where a pixel holds data in at least one band (bands x rows x cols in, rows x cols out)."""
    if nodata is None:
        invalid = np.isnan(data) if np.issubdtype(data.dtype, np.floating) else np.zeros(data.shape, bool)
    elif isinstance(nodata, float) and math.isnan(nodata):
        invalid = np.isnan(data)
    else:
        invalid = data == np.asarray(nodata).astype(data.dtype)
        if np.issubdtype(data.dtype, np.floating):
            invalid |= np.isnan(data)
    valid: np.ndarray = ~np.all(invalid, axis=0)
    return valid


def read_statistics_sample(dataset: Any, bands: tuple[int, ...]) -> np.ndarray:
    """Pixels for statistics: an overview when the file has one, else a grid of whole internal blocks."""
    if dataset.overviews(1):
        scale = max(1.0, max(dataset.width, dataset.height) / OVERVIEW_SIDE)  # never upsample
        shape = (len(bands), max(1, round(dataset.height / scale)), max(1, round(dataset.width / scale)))
        return np.asarray(dataset.read(bands, out_shape=shape))
    block_height, block_width = dataset.block_shapes[0]
    block_width = min(block_width, dataset.width)
    block_height = min(max(block_height, 256), dataset.height)
    windows = sample_windows(dataset.width, dataset.height, block_width, block_height)
    # Each block is read straight into its place in the sample: reading blocks apart and joining them
    # took twice the memory, and the start-up of `geo-label tile` waits on this (fresh memory is costly).
    sample = np.empty((len(bands), sum(w.width * w.height for w in windows)), dataset.dtypes[0])
    start = 0
    for w in windows:
        size = w.width * w.height
        dataset.read(
            bands, window=w, out=sample[:, start : start + size].reshape(len(bands), w.height, w.width)
        )
        start += size
    return sample[:, None, :]


def percentiles(values: np.ndarray, q: tuple[float, ...]) -> tuple[float, ...]:
    """``np.percentile(values, q)`` (linear interpolation) of a 1-D array, the same numbers.

    Integers of at most 16 bits are counted into a histogram of every possible value instead of being
    partially sorted: 5 ms instead of 30 ms for the 4 million pixels of a band's sample, on the path of
    every tiling run's start-up.
    """
    if values.dtype.kind not in "ui" or values.dtype.itemsize > 2:
        return tuple(float(v) for v in np.percentile(values, q))
    offset = int(np.iinfo(values.dtype).min)
    counts = np.bincount((values.astype(np.int32) - offset) if offset else values, minlength=1)
    cumulative = np.cumsum(counts)
    # numpy's linear method: the order statistics around (n - 1) * q / 100, interpolated as numpy does.
    virtual = (values.size - 1) * np.true_divide(np.asarray(q, dtype=np.float64), 100)
    below = np.floor(virtual)
    order = np.clip(np.stack([below, below + 1]).astype(np.int64), 0, values.size - 1)
    a, b = (
        np.searchsorted(cumulative, k, side="right").astype(values.dtype) + values.dtype.type(offset)
        for k in order
    )
    gamma = virtual - below
    diff = np.subtract(b, a)
    result = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=result, where=gamma >= 0.5)
    return tuple(float(v) for v in result)


def compute_stretch(dataset: Any, bands: tuple[int, ...] | None = None) -> DisplayStretch:
    """2nd to 98th percentile of each chosen band over valid pixels, from a cheap sample of the image."""
    chosen = bands or choose_display_bands(dataset)
    sample = read_statistics_sample(dataset, chosen)
    valid = valid_mask(sample, dataset.nodata)
    lows, highs = [], []
    every = bool(valid.all())
    for i in range(len(chosen)):
        values = sample[i].reshape(-1) if every else sample[i][valid]
        if values.size == 0:
            lows.append(0.0)
            highs.append(0.0)
            continue
        low, high = percentiles(values, (LOW_PERCENTILE, HIGH_PERCENTILE))
        lows.append(low)
        highs.append(high)
    return DisplayStretch(bands=chosen, low=tuple(lows), high=tuple(highs))
