"""Describe an image: what `geo-label inspect` prints and what ingest records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyproj import CRS
from shapely.geometry import MultiPolygon, Polygon, mapping

from access_control import Marking, MarkingRegistry
from imagery.footprint import dataset_footprint, ground_sample_distance
from imagery.nitf import nitf_marking
from imagery.reader import Georeferencing, open_raster, reading
from imagery.stretch import DisplayStretch, compute_stretch

ACQUISITION_TAGS = ("ACQUISITION_DATETIME", "ACQUISITIONDATETIME", "ACQUISITION_TIME", "DATETIME_ORIGINAL")
SENSOR_TAGS = ("SENSOR", "SATELLITE", "SATELLITEID", "PLATFORM", "TIFFTAG_MODEL")
DATETIME_FORMATS = ("%Y%m%d%H%M%S", "%Y:%m:%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """Everything GeoLabel needs to know about an image before tiling or registering it."""

    path: Path
    driver: str
    width: int
    height: int
    band_count: int
    dtype: str
    nodata: float | None
    crs_wkt: str
    crs_name: str
    epsg: int | None
    transform: tuple[float, float, float, float, float, float]
    georeferencing: Georeferencing
    footprint: Polygon | MultiPolygon
    gsd_m: tuple[float, float]
    acquired_at: datetime | None
    sensor: str | None
    marking: Marking | None
    band_descriptions: tuple[str | None, ...]
    stretch: DisplayStretch | None

    @property
    def source_bytes(self) -> int:
        """Size of the decoded pixels: what throughput figures are measured against."""
        import numpy as np

        return self.width * self.height * self.band_count * np.dtype(self.dtype).itemsize

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "driver": self.driver,
            "width": self.width,
            "height": self.height,
            "bands": self.band_count,
            "dtype": self.dtype,
            "nodata": self.nodata,
            "crs": {"name": self.crs_name, "epsg": self.epsg, "wkt": self.crs_wkt},
            "transform": list(self.transform),
            "georeferencing": self.georeferencing.value,
            "footprint": mapping(self.footprint),
            "gsd_m": {"across": round(self.gsd_m[0], 4), "along": round(self.gsd_m[1], 4)},
            "acquired_at": self.acquired_at.isoformat() if self.acquired_at else None,
            "sensor": self.sensor,
            "marking": self.marking.banner() if self.marking else None,
            "band_descriptions": list(self.band_descriptions),
            "display": self.stretch.to_dict() if self.stretch else None,
        }


def parse_datetime(text: str) -> datetime | None:
    value = text.strip().rstrip("Z")
    for fmt in DATETIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def first_tag(tags: dict[str, str], names: tuple[str, ...]) -> str | None:
    upper = {k.upper(): v for k, v in tags.items()}
    for name in names:
        value = upper.get(name, "").strip()
        if value:
            return value
    return None


def acquisition_and_sensor(source: Any) -> tuple[datetime | None, str | None]:
    tags = dict(source.tags())
    if source.driver == "NITF":
        when = tags.get("NITF_IDATIM", "").strip()
        sensor = tags.get("NITF_ISORCE", "").strip() or None
        return (parse_datetime(when) if when else None), sensor
    imd = dict(source.tags(ns="IMD")) if "IMD" in (source.tag_namespaces() or []) else {}
    when_text = first_tag(tags, ACQUISITION_TAGS) or imd.get("IMAGE_1.firstLineTime")
    sensor = first_tag(tags, SENSOR_TAGS) or imd.get("IMAGE_1.satId")
    return (parse_datetime(when_text) if when_text else None), sensor


def image_stretch(path: str | Path) -> DisplayStretch:
    """The display stretch of the image at ``path`` (as :func:`inspect_image` computes it, alone)."""
    with open_raster(path) as raster, reading(raster.path):
        return compute_stretch(raster.dataset)


def inspect_image(
    path: str | Path, registry: MarkingRegistry | None = None, *, statistics: bool = True
) -> ImageInfo:
    """Open, validate and describe an image. Raises :class:`~imagery.errors.ImageryError` subclasses.

    With ``statistics`` (the default) a sample of pixels is read for the display stretch, which also finds
    most truncated files; without it only headers are read.
    """
    with open_raster(path) as raster:
        ds, source = raster.dataset, raster.source
        marking = nitf_marking(source, registry) if source.driver == "NITF" else None
        acquired_at, sensor = acquisition_and_sensor(source)
        crs_wkt = ds.crs.to_wkt()
        stretch = None
        if statistics:
            with reading(raster.path):
                stretch = compute_stretch(ds)
        return ImageInfo(
            path=raster.path,
            driver=source.driver,
            width=ds.width,
            height=ds.height,
            band_count=ds.count,
            dtype=ds.dtypes[0],
            nodata=ds.nodata,
            crs_wkt=crs_wkt,
            crs_name=CRS.from_wkt(crs_wkt).name,
            epsg=ds.crs.to_epsg(),
            transform=tuple(ds.transform)[:6],
            georeferencing=raster.georeferencing,
            footprint=dataset_footprint(ds),
            gsd_m=ground_sample_distance(ds.transform, crs_wkt, ds.width, ds.height),
            acquired_at=acquired_at,
            sensor=sensor,
            marking=marking,
            band_descriptions=tuple(source.descriptions),
            stretch=stretch,
        )
