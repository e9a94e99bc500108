"""The service benchmark's fixture: one project, one image, a grid of chips and many small annotations.

Accounts and the project are made through GeoLabel's own services, as the operator at the command line
(``system_session``). The image, its chips and the annotations are written directly as the database owner, the
annotations with ``COPY``: through the service, a million annotations would take hours and measure the
insert path, which this benchmark does not. Every NOT NULL column is filled with a plausible value.

The annotations are rotated rectangles of 10 to 50 m (buildings, vehicles, tanks, aircraft), spread uniformly
over a 2 x 2 degree region, with a mix of markings such that the benchmark's reader (SECRET, US citizen)
reads most of them but not all: 60% U, 25% S//REL TO USA, GBR, 10% S//NOFORN (readable: the reader is a US
citizen) and 5% TS//SI (not readable: above the reader's clearance).
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import psycopg
import shapely
from sqlalchemy.orm import Session

from access_control import MarkingRegistry, parse_marking
from geo_label import projects, users
from geo_label.db.context import Caller, set_caller_context, system_caller
from geo_label.db.engine import Database
from geo_label.db.runtime import system_session
from geo_label.markings import marking_columns

#: west, south, east, north (EPSG:4326): a 2 x 2 degree region.
REGION = (44.0, 33.0, 46.0, 35.0)
#: Chips per side: 50 x 50 = 2,500 chips of 512 px over the region (about 8.7 m per pixel).
CHIP_GRID = 50
CHIP_PX = 512
#: (marking, share of the annotations, readable by the reader?)
MARKING_MIX: tuple[tuple[str, float, bool], ...] = (
    ("UNCLASSIFIED", 0.60, True),
    ("SECRET//REL TO USA, GBR", 0.25, True),
    ("SECRET//NOFORN", 0.10, True),
    ("TOP SECRET//SI", 0.05, False),
)
#: The scale benchmark's mix (issue 21): eight markings of which the reader may read about half (the other
#: half is above the reader's clearance, or carries SCI controls the reader does not hold).
HALF_MIX: tuple[tuple[str, float, bool], ...] = (
    ("UNCLASSIFIED", 0.20, True),
    ("CONFIDENTIAL", 0.10, True),
    ("SECRET", 0.10, True),
    ("SECRET//REL TO USA, GBR", 0.10, True),
    ("SECRET//SI", 0.10, False),
    ("SECRET//TK", 0.10, False),
    ("TOP SECRET", 0.15, False),
    ("TOP SECRET//SI", 0.15, False),
)
Mix = tuple[tuple[str, float, bool], ...]
CLASSES = (
    projects.LabelClass(
        "building",
        ("Polygon",),
        (
            {"name": "floors", "type": "integer"},
            {"name": "use", "type": "enum", "values": ["civil", "military"]},
        ),
    ),
    projects.LabelClass("vehicle", ("Polygon",)),
    projects.LabelClass("storage_tank", ("Polygon",)),
    projects.LabelClass("aircraft", ("Polygon",)),
)
CLASS_SHARES = (0.55, 0.25, 0.12, 0.08)
READER = "bench-reader"
READER_CLEARANCE = "SECRET"
READER_CITIZENSHIP = "USA"
PROJECT_NAME = "bench-service"
#: Annotations generated and sent per COPY chunk (bounds the benchmark's own memory).
COPY_BATCH = 100_000
METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON_AT_EQUATOR = 111_320.0
ANNOTATION_COLUMNS = (
    "project_id, image_id, chip_id, label_class, attributes, geometry, source, confidence, status, version, "
    "created_by, created_at, updated_by, updated_at, classification, sci_controls, dissemination, rel_to, "
    "derived_from, marked_by"
)


@dataclass(frozen=True)
class Fixture:
    project_id: uuid.UUID
    reader_id: uuid.UUID
    image_id: uuid.UUID
    chip_ids: list[uuid.UUID]
    annotations: int
    mix: Mix = MARKING_MIX

    @property
    def readable_share(self) -> float:
        return sum(share for _, share, readable in self.mix if readable)


# --- caller context for raw connections ------------------------------------------------------------------


class _Recorder:
    """Stands in for a Session to capture what ``set_caller_context`` sends, so raw psycopg connections set
    exactly the settings the service sets."""

    def __init__(self) -> None:
        self.params: dict[str, str] = {}

    def execute(self, _statement: Any, params: Mapping[str, str]) -> None:
        self.params = dict(params)


def context_settings(caller: Caller) -> dict[str, str]:
    """The per-transaction settings ``geo_label.db.context.set_caller_context`` makes for ``caller``."""
    recorder = _Recorder()
    set_caller_context(cast(Session, recorder), caller)
    count = len(recorder.params) // 2
    return {recorder.params[f"k{i}"]: recorder.params[f"v{i}"] for i in range(count)}


def set_context(conn: psycopg.Connection[Any], caller: Caller) -> None:
    """``set_config(name, value, true)`` for each setting: valid until the end of the current transaction."""
    settings = context_settings(caller)
    assignments = ", ".join("set_config(%s, %s, true)" for _ in settings)
    conn.execute(f"SELECT {assignments}", [item for pair in settings.items() for item in pair])


# --- accounts and project, through the services ----------------------------------------------------------


def create_accounts(database: Database, registry: MarkingRegistry) -> tuple[uuid.UUID, uuid.UUID]:
    """The reader (a labeler in the project) and the project, as the operator; returns their ids."""
    with system_session(database, registry) as session:
        caller: Caller = session.info["caller"]
        clearance = users.Clearance.parse(READER_CLEARANCE, citizenship=READER_CITIZENSHIP, registry=registry)
        reader = users.create_user(session, caller, username=READER, password_hash=None, clearance=clearance)
        reader_id = reader.user.id
    with system_session(database, registry) as session:
        project_id = projects.create_project(
            session,
            session.info["caller"],
            name=PROJECT_NAME,
            marking=parse_marking("UNCLASSIFIED", registry),
            classes=list(CLASSES),
            description="service benchmark fixture",
            review_required=False,
        )
    with system_session(database, registry) as session:
        projects.add_member(
            session, session.info["caller"], project_id=project_id, username=READER, role="labeler"
        )
    return project_id, reader_id


# --- image and chips, as the owner -----------------------------------------------------------------------


def _ewkb_hex(geometry: shapely.Geometry) -> str:
    return str(shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True))


def grid_side(chips: int) -> int:
    """Chips per side of the square grid that holds ``chips`` chips."""
    return math.ceil(math.sqrt(chips))


def _chip_step(side: int = CHIP_GRID) -> tuple[float, float]:
    west, south, east, north = REGION
    return (east - west) / side, (north - south) / side


def insert_image_and_chips(
    conn: psycopg.Connection[Any],
    project_id: uuid.UUID,
    operator: uuid.UUID,
    *,
    chips: int = CHIP_GRID * CHIP_GRID,
    marking: str = "UNCLASSIFIED",
    name: str = "bench-scene",
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """One image covering the region, marked ``marking``, and ``chips`` chips of it on a square grid, row by
    row from the north-west (the last row partly filled when ``chips`` is not a square)."""
    west, south, east, north = REGION
    side = grid_side(chips)
    dx, dy = (east - west) / side, (north - south) / side
    size = side * CHIP_PX
    image_id = uuid.uuid4()
    columns = marking_columns(parse_marking(marking))
    marks = (columns["classification"], columns["sci_controls"], columns["dissemination"], columns["rel_to"])
    conn.execute(
        "INSERT INTO images (id, project_id, sha256, name, source_path, chips_dir, driver, width, height, "
        "band_count, dtype, crs_wkt, transform, footprint, gsd_m, acquired_at, sensor, chip_size, "
        "chip_overlap, ingested_by, classification, sci_controls, dissemination, rel_to, derived_from, "
        "marked_by) VALUES (%s, %s, %s, %s, %s, %s, 'GTiff', %s, %s, 4, 'uint16', %s, %s, "
        "ST_GeomFromEWKB(decode(%s, 'hex')), %s, %s, 'bench-sensor', %s, 0, %s, %s, %s, %s, %s, %s, %s)",
        (
            image_id,
            project_id,
            hashlib.sha256(f"geo-label benchmark scene {name} {project_id}".encode()).hexdigest(),
            f"{name}.tif",
            f"/bench/{name}.tif",
            f"/bench/chips/{image_id}",
            size,
            size,
            'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
            'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]',
            [dx / CHIP_PX, 0.0, west, 0.0, -dy / CHIP_PX, north],  # affine a, b, c, d, e, f
            _ewkb_hex(shapely.box(west, south, east, north)),
            METRES_PER_DEGREE_LAT * dy / CHIP_PX,
            datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
            CHIP_PX,
            operator,
            *marks,
            [f"image:{image_id}"],
            operator,
        ),
    )
    chip_ids = [uuid.uuid4() for _ in range(chips)]
    names = (
        "id, image_id, project_id, row_off, col_off, width, height, path, preview_path, valid_fraction, "
        "footprint, status, classification, sci_controls, dissemination, rel_to, derived_from, marked_by"
    )
    with conn.cursor().copy(f"COPY chips ({names}) FROM STDIN") as copy:
        for index, chip_id in enumerate(chip_ids):
            row, col = divmod(index, side)
            footprint = shapely.box(
                west + col * dx, north - (row + 1) * dy, west + (col + 1) * dx, north - row * dy
            )
            stem = f"/bench/chips/{image_id}/r{row * CHIP_PX:07d}_c{col * CHIP_PX:07d}"
            copy.write_row(
                (
                    chip_id,
                    image_id,
                    project_id,
                    row * CHIP_PX,
                    col * CHIP_PX,
                    CHIP_PX,
                    CHIP_PX,
                    f"{stem}.tif",
                    f"{stem}.jpg",
                    1.0,
                    _ewkb_hex(footprint),
                    "open",
                    *marks,
                    [f"image:{image_id}"],
                    operator,
                )
            )
    return image_id, chip_ids


# --- annotations, with COPY ------------------------------------------------------------------------------


def _rectangles(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` rotated rectangles of 10-50 m by 30-100% of that, uniformly over the region: their centres'
    lon and lat, and their EWKB (hex, SRID 4326)."""
    west, south, east, north = REGION
    lon = rng.uniform(west + 0.001, east - 0.001, n)
    lat = rng.uniform(south + 0.001, north - 0.001, n)
    half_length = rng.uniform(5.0, 25.0, n)
    half_width = half_length * rng.uniform(0.3, 1.0, n)
    angle = rng.uniform(0.0, np.pi, n)
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)], dtype=float)
    x = corners[:, 0] * half_length[:, None]
    y = corners[:, 1] * half_width[:, None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    east_m, north_m = x * cos - y * sin, x * sin + y * cos
    lon_scale = METRES_PER_DEGREE_LON_AT_EQUATOR * np.cos(np.radians(lat))[:, None]
    coords = np.stack([lon[:, None] + east_m / lon_scale, lat[:, None] + north_m / METRES_PER_DEGREE_LAT], -1)
    polygons = shapely.set_srid(shapely.polygons(coords), 4326)
    return lon, lat, list(shapely.to_wkb(polygons, hex=True, include_srid=True))


def _array(values: list[str]) -> str:
    return "{" + ",".join(values) + "}"


def _marking_texts(mix: Mix) -> list[str]:
    """The COPY text of the classification, sci_controls, dissemination and rel_to columns per marking."""
    out = []
    for text, _, _ in mix:
        columns = marking_columns(parse_marking(text))
        out.append(
            f"{columns['classification']}\t{_array(columns['sci_controls'])}\t"
            f"{_array(columns['dissemination'])}\t{_array(columns['rel_to'])}"
        )
    return out


def _annotation_lines(
    rng: np.random.Generator, n: int, start: int, fixture: Fixture, author: uuid.UUID
) -> Iterator[str]:
    """COPY text lines (columns :data:`ANNOTATION_COLUMNS`) for annotations ``start`` .. ``start + n``."""
    west, _, _, north = REGION
    side = grid_side(len(fixture.chip_ids))
    dx, dy = _chip_step(side)
    lon, lat, geometries = _rectangles(rng, n)
    col = np.minimum(((lon - west) / dx).astype(int), side - 1)
    row = np.minimum(((north - lat) / dy).astype(int), side - 1)
    chip_index = np.minimum(row * side + col, len(fixture.chip_ids) - 1)
    markings = rng.choice(len(fixture.mix), n, p=[share for _, share, _ in fixture.mix])
    classes = rng.choice(len(CLASSES), n, p=CLASS_SHARES)
    floors = rng.integers(1, 12, n)
    military = rng.random(n) < 0.1
    from_model = rng.random(n) < 0.2
    confidence = rng.uniform(0.5, 1.0, n)
    statuses = rng.choice(["draft", "submitted", "accepted"], n, p=[0.2, 0.3, 0.5])
    # One annotation every 7 s from 2024-05-01 on: created_at differs from row to row, as in real life.
    created = np.datetime64("2024-05-01T08:00:00") + (start + np.arange(n)) * np.timedelta64(7, "s")
    stamps = np.datetime_as_string(created, unit="s")
    marking_texts = _marking_texts(fixture.mix)
    chip_text = [str(c) for c in fixture.chip_ids]
    head = f"{fixture.project_id}\t{fixture.image_id}\t"
    for i in range(n):
        cls = CLASSES[classes[i]].name
        attributes = (
            f'{{"floors": {floors[i]}, "use": "{"military" if military[i] else "civil"}"}}'
            if cls == "building"
            else "{}"
        )
        source, conf = ("model", f"{confidence[i]:.3f}") if from_model[i] else ("human", "\\N")
        chip = chip_text[chip_index[i]]
        stamp = f"{stamps[i]}Z"
        yield (
            f"{head}{chip}\t{cls}\t{attributes}\t{geometries[i]}\t{source}\t{conf}\t{statuses[i]}\t1\t"
            f"{author}\t{stamp}\t{author}\t{stamp}\t{marking_texts[markings[i]]}\t{{chip:{chip}}}\t{author}\n"
        )


def copy_annotations(
    conn: psycopg.Connection[Any], fixture: Fixture, author: uuid.UUID, seed: int, *, first: int = 0
) -> None:
    """Annotations ``first`` .. ``fixture.annotations`` by COPY, in chunks of :data:`COPY_BATCH` (ids from
    the server; created 7 s apart, so later ones come after earlier ones in every page)."""
    rng = np.random.default_rng(seed)
    with conn.cursor().copy(f"COPY annotations ({ANNOTATION_COLUMNS}) FROM STDIN") as copy:
        for start in range(first, fixture.annotations, COPY_BATCH):
            n = min(COPY_BATCH, fixture.annotations - start)
            copy.write("".join(_annotation_lines(rng, n, start, fixture, author)))


def load_fixture(
    database: Database,
    admin: psycopg.Connection[Any],
    registry: MarkingRegistry,
    annotations: int,
    chips: int = CHIP_GRID * CHIP_GRID,
    mix: Mix = MARKING_MIX,
) -> tuple[Fixture, float]:
    """Build the fixture; returns it and the seconds the annotations took (COPY, indexes, VACUUM, ANALYZE).
    ``admin`` is an autocommit connection as the owner or a superuser."""
    project_id, reader_id = create_accounts(database, registry)
    operator = system_caller(registry.sci_controls, frozenset({str(project_id)}))
    with admin.transaction():
        set_context(admin, operator)  # the owner is subject to FORCE ROW LEVEL SECURITY unless superuser
        image_id, chip_ids = insert_image_and_chips(admin, project_id, reader_id, chips=chips)
    fixture = Fixture(project_id, reader_id, image_id, chip_ids, annotations, mix)
    return fixture, grow_annotations(admin, registry, fixture, first=0)


def grow_annotations(
    admin: psycopg.Connection[Any], registry: MarkingRegistry, fixture: Fixture, *, first: int
) -> float:
    """Annotations ``first`` .. ``fixture.annotations`` of the fixture by COPY, then VACUUM and ANALYZE;
    the seconds it took. The history trigger (``annotations_history``) is disabled during the COPY, which
    would otherwise write as many ``annotation_versions`` rows one trigger call at a time."""
    operator = system_caller(registry.sci_controls, frozenset({str(fixture.project_id)}))
    started = time.perf_counter()
    admin.execute("ALTER TABLE annotations DISABLE TRIGGER annotations_history")
    try:
        with admin.transaction():
            set_context(admin, operator)
            copy_annotations(admin, fixture, fixture.reader_id, seed=42 + first, first=first)
    finally:
        admin.execute("ALTER TABLE annotations ENABLE TRIGGER annotations_history")
    # VACUUM too: the first reads after a bulk load would otherwise set hint bits and write pages.
    admin.execute("VACUUM (ANALYZE) annotations")
    admin.execute("ANALYZE")
    return time.perf_counter() - started
