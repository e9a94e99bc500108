"""A STAC catalog with the label extension: ``catalog.json`` at the dataset's root.

Layout (every link relative, so the folder can move)::

    catalog.json                     the root Catalog; its first field is the dataset's banner
    stac/chips/collection.json       a Collection of the chips' Items
    stac/chips/{chip_id}.json        a chip: footprint, datetime, GSD, ``proj:`` fields, the COG as ``image``
    stac/labels/collection.json      a Collection of the label Items
    stac/labels/{chip_id}.json       the chip's labels (``label:`` fields, counts per class), ``source`` link
    stac/labels/{chip_id}.geojson    the labels themselves: GeoJSON, each feature with its portion marking

Every Item carries ``geolabel:marking`` (its portion marking: the chip's, or the roll-up of the chip and its
labels) and ``geolabel:split``. Items are built with pystac and written one by one, so memory does not grow
with the number of chips; the catalog and collections are written last, when their extents and banner are
known.
"""

from __future__ import annotations

import io
import warnings
from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import pystac
import shapely
from pyproj import CRS
from pystac.extensions.projection import ProjectionExtension

from access_control import Marking
from geo_label.datasets.items import ChipItem, DatasetContext
from geo_label.datasets.pixels import chip_affine
from geo_label.export.geojson import EncodedFeatures, ExportHeader, write_small_export

with warnings.catch_warnings():
    # pystac warns that the label extension is at "pilot" maturity and unmaintained; it is still what ML
    # programs' loaders read (and what the issue asks for), so the warning would only alarm operators.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pystac.extensions.label import LabelClasses, LabelCount, LabelExtension, LabelOverview, LabelType

JSON = "application/json"
GEOJSON = "application/geo+json"


class StacWriter:
    def __init__(self, context: DatasetContext, image_media_type: str, with_masks: bool) -> None:
        self._context = context
        self._chips = context.root / "stac" / "chips"
        self._labels = context.root / "stac" / "labels"
        self._chips.mkdir(parents=True)
        self._labels.mkdir(parents=True)
        self._image_media_type = image_media_type
        self._with_masks = with_masks
        self._chip_links: list[dict[str, Any]] = []
        self._label_links: list[dict[str, Any]] = []
        self._bounds: list[tuple[float, float, float, float]] = []
        self._times: list[datetime] = []
        self._counts: Counter[str] = Counter()
        self._methods: set[str] = set()
        self._header = ExportHeader(
            project=context.project,
            exported_at=context.exported_at,
            exported_by=context.exported_by,
            recipient=context.recipient,
        )

    def chip(self, item: ChipItem) -> None:
        chip = item.chip
        geometry = shapely.geometry.mapping(chip.footprint)
        bbox = list(chip.footprint.bounds)
        self._bounds.append(chip.footprint.bounds)
        self._times.append(chip.datetime)
        source = pystac.Item(
            id=chip.id,
            geometry=geometry,
            bbox=bbox,
            datetime=chip.datetime,
            properties={
                "geolabel:marking": chip.marking.portion(),
                "geolabel:split": item.split,
                "geolabel:image_id": chip.image_id,
                "gsd": chip.gsd_m,
                **({"instruments": [chip.sensor]} if chip.sensor else {}),
            },
        )
        projection = ProjectionExtension.ext(source, add_if_missing=True)
        transform = chip_affine(chip)
        projection.apply(
            code=_epsg_code(chip.crs_wkt),
            wkt2=None if _epsg_code(chip.crs_wkt) else chip.crs_wkt,
            shape=[chip.height, chip.width],
            transform=[transform.a, transform.b, transform.c, transform.d, transform.e, transform.f],
        )
        source.add_asset(
            "image",
            pystac.Asset(
                href=f"../../images/{item.image_file}", media_type=self._image_media_type, roles=["data"]
            ),
        )
        self._link_common(source, "../chips/collection.json")
        _write(self._chips / f"{chip.id}.json", source)
        self._chip_links.append({"rel": "item", "href": f"./{chip.id}.json", "type": JSON})

        counts = Counter(label.label_class for label in item.labels)
        self._counts.update(counts)
        methods = sorted({"automated" if label.source != "human" else "manual" for label in item.labels})
        self._methods.update(methods)
        label_item = pystac.Item(
            id=f"{chip.id}-labels",
            geometry=geometry,
            bbox=bbox,
            datetime=chip.datetime,
            properties={"geolabel:marking": item.marking.portion(), "geolabel:split": item.split},
        )
        extension = LabelExtension.ext(label_item, add_if_missing=True)
        extension.apply(
            label_description=f"{self._context.project}: labels of chip {chip.id}",
            label_type=LabelType.VECTOR,
            label_properties=["class"],
            label_classes=[LabelClasses.create(classes=list(self._context.categories.names), name="class")],
            label_tasks=self._tasks(item),
            label_methods=methods or ["manual"],
            label_overviews=[
                LabelOverview.create(
                    property_key="class",
                    counts=[LabelCount.create(name, counts[name]) for name in sorted(counts)],
                )
            ],
        )
        label_item.add_asset(
            "labels", pystac.Asset(href=f"./{chip.id}.geojson", media_type=GEOJSON, roles=["data"])
        )
        if self._with_masks:
            label_item.add_asset(
                "mask",
                pystac.Asset(
                    href=f"../../masks/{chip.id}.tif",
                    media_type=pystac.MediaType.GEOTIFF,
                    roles=["data", "mask"],
                ),
            )
        label_item.add_link(
            pystac.Link(
                "source",
                f"../chips/{chip.id}.json",
                media_type=JSON,
                extra_fields={"label:assets": ["image"]},
            )
        )
        self._link_common(label_item, "../labels/collection.json")
        _write(self._labels / f"{chip.id}.json", label_item)
        self._label_links.append({"rel": "item", "href": f"./{chip.id}.json", "type": JSON})
        self._write_labels(item)

    def _tasks(self, item: ChipItem) -> list[str]:
        kinds = {label.geometry.geom_type for label in item.labels}
        tasks = ["detection"]
        if kinds & {"Polygon", "MultiPolygon"} or not kinds:
            tasks.append("segmentation")
        return tasks

    def _link_common(self, stac_item: pystac.Item, collection: str) -> None:
        stac_item.add_link(pystac.Link("root", "../../catalog.json", media_type=JSON))
        stac_item.add_link(pystac.Link("parent", collection, media_type=JSON))
        stac_item.add_link(pystac.Link("collection", collection, media_type=JSON))
        stac_item.collection_id = "chips" if collection.startswith("../chips") else "labels"

    def _write_labels(self, item: ChipItem) -> None:
        encoded = [label.feature for label in item.labels if label.feature is not None]
        features = EncodedFeatures(
            texts=[text for feature in encoded for text in feature.texts],
            markings=frozenset(marking for feature in encoded for marking in feature.markings),
            bounds=np.vstack([feature.bounds for feature in encoded]) if encoded else np.empty((0, 4)),
        )
        buffer = io.BytesIO()
        write_small_export([features], self._header, buffer)
        (self._labels / f"{item.chip.id}.geojson").write_bytes(buffer.getvalue())

    def finish(self, banner: Marking) -> dict[str, Any]:
        context = self._context
        temporal: list[list[str | None]]
        if self._bounds:
            west = min(b[0] for b in self._bounds)
            south = min(b[1] for b in self._bounds)
            east = max(b[2] for b in self._bounds)
            north = max(b[3] for b in self._bounds)
            spatial = [[west, south, east, north]]
            temporal = [[_text(min(self._times)), _text(max(self._times))]]
        else:
            spatial, temporal = [[-180.0, -90.0, 180.0, 90.0]], [[None, None]]
        extent = {"spatial": {"bbox": spatial}, "temporal": {"interval": temporal}}
        common = {
            "geolabel:banner": banner.banner(),
            "stac_version": pystac.get_stac_version(),
            "license": "other",
            "type": "Collection",
            "extent": extent,
        }
        chips = {
            **common,
            "stac_extensions": [ProjectionExtension.get_schema_uri()],
            "id": "chips",
            "description": f"{context.project}: the chips (GeoTIFF) of the dataset",
            "links": [*_collection_links(), *self._chip_links],
        }
        labels = {
            **common,
            "stac_extensions": [LabelExtension.get_schema_uri()],
            "id": "labels",
            "description": f"{context.project}: the labels of the dataset's chips",
            "summaries": {
                "label:type": ["vector"],
                "label:properties": ["class"],
                "label:classes": [{"name": "class", "classes": list(context.categories.names)}],
                "label:methods": sorted(self._methods) or ["manual"],
            },
            "links": [*_collection_links(), *self._label_links],
        }
        catalog = {
            "geolabel:banner": banner.banner(),
            "type": "Catalog",
            "stac_version": pystac.get_stac_version(),
            "id": "geolabel-dataset",
            "title": context.project,
            "description": (
                f"{banner.banner()}: labels of {context.project} for training, exported by GeoLabel for "
                f"{context.exported_by} on {context.exported_at.isoformat()}"
                + (f" for release to {context.recipient}" if context.recipient else "")
            ),
            "geolabel:splits": list(context.splits),
            "links": [
                {"rel": "root", "href": "./catalog.json", "type": JSON},
                {"rel": "child", "href": "./stac/chips/collection.json", "type": JSON, "title": "chips"},
                {"rel": "child", "href": "./stac/labels/collection.json", "type": JSON, "title": "labels"},
            ],
        }
        (self._chips / "collection.json").write_bytes(orjson.dumps(chips, option=orjson.OPT_INDENT_2))
        (self._labels / "collection.json").write_bytes(orjson.dumps(labels, option=orjson.OPT_INDENT_2))
        (context.root / "catalog.json").write_bytes(orjson.dumps(catalog, option=orjson.OPT_INDENT_2))
        return {
            "items": len(self._chip_links),
            "label_items": len(self._label_links),
            "labels": dict(self._counts),
        }


def _collection_links() -> list[dict[str, Any]]:
    return [
        {"rel": "root", "href": "../../catalog.json", "type": JSON},
        {"rel": "parent", "href": "../../catalog.json", "type": JSON},
    ]


def _write(path: Any, stac_item: pystac.Item) -> None:
    path.write_bytes(orjson.dumps(stac_item.to_dict(include_self_link=False, transform_hrefs=False)))


def _text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=64)
def _epsg_code(crs_wkt: str) -> str | None:
    epsg = CRS.from_wkt(crs_wkt).to_epsg()
    return f"EPSG:{epsg}" if epsg else None
