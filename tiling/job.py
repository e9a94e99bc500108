"""What one tiling run is asked to do: a small picklable value shipped to every Dask worker."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from imagery import DisplayStretch
from tiling.windows import ChipWindow

#: Namespace of chip ids: uuid5(namespace, "<image sha256>:<size>:<overlap>:<row_off>:<col_off>").
CHIP_ID_NAMESPACE = uuid.UUID("6f1d2b4e-0c7a-5e55-9a1e-6765f4c4b3a1")
CHIPS_DIR = "chips"
PREVIEWS_DIR = "previews"
STATE_DIR = ".geo-label"


class Compression(StrEnum):
    """Chip compression. ZSTD level 1 writes faster than DEFLATE level 1 for a few more bytes
    (benchmarks/tiling.py, case (c3)); DEFLATE suits readers without ZSTD."""

    ZSTD = "zstd"
    DEFLATE = "deflate"

    def creation_options(self) -> dict[str, Any]:
        """COG-driver options with these compression settings (the benchmark's limit case uses them)."""
        return {"compress": self.value.upper(), "predictor": 2, "level": 1, "blocksize": 512}

    def chip_options(self, size: int) -> dict[str, Any]:
        """GTiff options that write a chip in the Cloud Optimized layout (tiled, IFD first: GDAL reports
        LAYOUT=COG) in one pass. The COG driver would copy through a temporary file,
        which costs more per chip."""
        block = 512 if size >= 512 else -(-size // 16) * 16
        level = {"zstd_level": 1} if self is Compression.ZSTD else {"zlevel": 1}
        return {
            "driver": "GTiff",
            "compress": self.value.upper(),
            "predictor": 2,
            **level,
            "tiled": True,
            "blockxsize": block,
            "blockysize": block,
            "copy_src_overviews": True,
        }


@dataclass(frozen=True, slots=True)
class TileParameters:
    size: int = 512
    overlap: int = 64
    min_valid: float = 0.0
    compression: Compression = Compression.ZSTD

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "compression": self.compression.value}


@dataclass(frozen=True, slots=True)
class TileJob:
    """Everything a worker needs to write chips; paths must be visible to every worker."""

    source: Path
    out_dir: Path
    image_sha256: str
    params: TileParameters
    stretch: DisplayStretch
    marking: str | None

    def chip_id(self, window: ChipWindow) -> str:
        name = (
            f"{self.image_sha256}:{self.params.size}:{self.params.overlap}:{window.row_off}:{window.col_off}"
        )
        return str(uuid.uuid5(CHIP_ID_NAMESPACE, name))

    def chip_path(self, window: ChipWindow) -> str:
        return f"{CHIPS_DIR}/{window.key}.tif"

    def preview_path(self, window: ChipWindow) -> str:
        return f"{PREVIEWS_DIR}/{window.key}.jpg"
