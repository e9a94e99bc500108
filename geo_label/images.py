"""Ingest: inspect an image, settle its marking, tile it with the Dask pipeline, register image and chips.

Idempotent: the image is known by its content hash within a project, chips by their deterministic ids, so
ingesting the same image twice changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from access_control import Marking, MarkingRegistry, can_read, roll_up
from geo_label import audit
from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import CHIPS, IMAGES
from geo_label.errors import InvalidInputError, NotFoundError
from geo_label.image_marking import image_marking
from geo_label.markings import marking_columns, marking_of
from geo_label.projects import require_project_role
from imagery import ImageInfo, inspect_image
from tiling import SchedulerChoice, TileParameters, tile_image


@dataclass(frozen=True)
class PreparedImage:
    """An image inspected and tiled, ready to register (the slow part, done outside any transaction)."""

    info: ImageInfo
    marking: Marking
    chips_dir: Path
    sha256: str
    params: TileParameters
    chips_written: int


def prepare_image(
    path: Path,
    *,
    project: Any,
    operator_marking: Marking | None,
    registry: MarkingRegistry,
    data_dir: Path,
    params: TileParameters,
    scheduler: SchedulerChoice | None = None,
) -> PreparedImage:
    """Inspect and tile ``path`` for ``project``. The marking is the file's (a floor the operator may raise)
    rolled up with the project's floor; an image with neither file nor operator marking is refused."""
    info = inspect_image(path, registry, statistics=False)
    marking = image_marking(info.marking, operator_marking, registry)
    if marking is None:
        raise InvalidInputError(f"{path.name} carries no marking of its own: give one with --marking")
    marking = roll_up([marking, marking_of(project)])
    chips_dir = data_dir / "chips" / str(project["id"])
    from tiling.state import file_sha256

    sha = file_sha256(path)
    summary = tile_image(
        path,
        chips_dir / sha,
        params,
        scheduler=scheduler,
        marking=marking.banner(),
        info=info,
        image_sha256=sha,
    )
    return PreparedImage(info, marking, chips_dir / sha, sha, params, summary.chips_written)


def project_chip_id(project_id: uuid.UUID, tiling_chip_id: str) -> uuid.UUID:
    """The chip's id in a project. Tiling ids depend only on the image and the chip grid, so the same image in
    two projects (possibly at different markings) must not share chip records: derive one id per project,
    still deterministic so a repeated ingest finds its chips."""
    return uuid.uuid5(uuid.UUID(tiling_chip_id), str(project_id))


def register_image(
    session: Session, caller: Caller, *, project: Any, prepared: PreparedImage
) -> tuple[uuid.UUID, int]:
    """Insert the image and its chips (skipping what is already there); returns the image id and the number
    of chips registered by this call."""
    require_project_role(caller, project["id"], "manager")
    if not can_read(caller.access, prepared.marking):
        raise InvalidInputError(
            f"you cannot ingest imagery marked {prepared.marking.banner()}: it is above your access"
        )
    info = prepared.info
    existing = session.execute(
        select(IMAGES.c.id).where(IMAGES.c.project_id == project["id"], IMAGES.c.sha256 == prepared.sha256)
    ).scalar_one_or_none()
    image_id = existing or uuid.uuid4()
    columns = marking_columns(prepared.marking)
    if existing is None:
        session.execute(
            pg_insert(IMAGES)
            .values(
                id=image_id,
                project_id=project["id"],
                sha256=prepared.sha256,
                name=info.path.name,
                source_path=str(info.path),
                chips_dir=str(prepared.chips_dir),
                driver=info.driver,
                width=info.width,
                height=info.height,
                band_count=info.band_count,
                dtype=info.dtype,
                crs_wkt=info.crs_wkt,
                transform=list(info.transform),
                footprint=from_shape(info.footprint, 4326),
                gsd_m=(info.gsd_m[0] + info.gsd_m[1]) / 2,
                acquired_at=info.acquired_at,
                sensor=info.sensor,
                chip_size=prepared.params.size,
                chip_overlap=prepared.params.overlap,
                ingested_by=caller.user_id,
                marked_by=caller.user_id,
                derived_from=[f"file:{prepared.sha256}"],
                **columns,
            )
            .on_conflict_do_nothing()
        )
    import geopandas as gpd  # heavy; only ingest needs it

    index = gpd.read_parquet(prepared.chips_dir / "index.parquet")
    rows = [
        {
            "id": project_chip_id(project["id"], row.chip_id),
            "image_id": image_id,
            "project_id": project["id"],
            "row_off": int(row.row_off),
            "col_off": int(row.col_off),
            "width": int(row.width),
            "height": int(row.height),
            "path": str(prepared.chips_dir / row.path),
            "preview_path": str(prepared.chips_dir / row.preview_path),
            "valid_fraction": float(row.valid_fraction),
            "footprint": from_shape(row.geometry, 4326),
            "marked_by": caller.user_id,
            "derived_from": [f"image:{image_id}"],
            **columns,
        }
        for row in index.itertuples()
    ]
    before = session.execute(select(func.count()).where(CHIPS.c.image_id == image_id)).scalar_one()
    for start in range(0, len(rows), 1000):
        session.execute(pg_insert(CHIPS).values(rows[start : start + 1000]).on_conflict_do_nothing())
    registered = len(rows) - before
    # Every chip is a labeling task: create them now, in the same transaction, as the ingesting operator.
    from geo_label.workflow.queue import ensure_tasks

    ensure_tasks(session, caller, project["id"])
    audit.record(
        session,
        caller,
        "image.ingest",
        item_type="image",
        item_id=image_id,
        project_id=project["id"],
        marking=prepared.marking,
        details={
            "name": info.path.name,
            "sha256": prepared.sha256,
            "chips": len(rows),
            "new_chips": registered,
        },
    )
    return image_id, registered


def get_image(session: Session, caller: Caller, image_id: uuid.UUID) -> Any:
    row = (
        session.execute(select(IMAGES).where(IMAGES.c.id == image_id, readable(IMAGES, caller)))
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFoundError("image")
    return row


def list_images(
    session: Session, caller: Caller, *, project_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[Any], int]:
    query = select(IMAGES).where(readable(IMAGES, caller))
    if project_id is not None:
        query = query.where(IMAGES.c.project_id == project_id)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(IMAGES.c.ingested_at, IMAGES.c.id).limit(limit).offset(offset)
    ).mappings()
    return list(rows), total
