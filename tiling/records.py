"""The result of one chip: what the index and the resume state record."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ChipRecord:
    chip_id: str
    row_off: int
    col_off: int
    width: int
    height: int
    valid_fraction: float
    written: bool
    path: str | None
    preview_path: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChipRecord:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Chips of one batch, and how many of them this run wrote (0 when all were already on disk)."""

    records: tuple[ChipRecord, ...]
    newly_written: int
    #: Of those, the chips GDAL wrote (masked, DEFLATE, or a layout the fast writer cannot vouch for).
    by_gdal: int = 0
