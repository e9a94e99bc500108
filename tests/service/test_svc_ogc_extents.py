"""Issue 21: a collection's extent comes from ``annotation_extents`` (per project and marking, kept by a
trigger on annotations), not from a scan of the annotations: it grows with every write that reaches
beyond it, never shows a marking the reader may not read, and never shrinks (a deleted label's box stays)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping

from tests.pg import TestDatabase
from tests.service.chip_place import chip_place


def spatial(client: TestClient, project: Any, headers: dict[str, str]) -> list[float]:
    body = client.get(f"/ogc/collections/{project}", headers=headers).json()
    bbox: list[float] = body["extent"]["spatial"]["bbox"][0]
    return bbox


def test_the_extent_grows_with_writes_and_keeps_to_readable_markings(
    client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path
) -> None:
    place = chip_place(client, test_db, utm_image, data_dir, ("S", "U"), prefix="ext")
    project, (writer, reader) = place.project, place.headers
    west, south, step = place.west, place.south, place.step

    def square(k: float, marking: str) -> dict[str, Any]:
        return place.draw(k, marking=marking)

    # Nothing labeled yet: the imagery the reader may read (issue 22: not the globe), which holds the chips.
    imagery = spatial(client, project, reader)
    assert imagery[0] <= west and imagery[1] <= south and imagery[2] > west + step * 8
    first = square(1, "UNCLASSIFIED")
    assert spatial(client, project, reader) == pytest.approx(
        [west + step, south + step, west + step * 1.5, south + step * 1.5]
    )
    far = square(6, "UNCLASSIFIED")
    grown = spatial(client, project, reader)
    assert grown[2] == pytest.approx(west + step * 6.5)
    square(8, "SECRET")  # beyond, but not for the UNCLASSIFIED reader
    assert spatial(client, project, reader) == grown
    assert spatial(client, project, writer)[2] == pytest.approx(west + step * 8.5)

    moved = client.patch(
        f"/api/v1/annotations/{first['id']}",
        headers={**writer, "If-Match": f'"{first["version"]}"'},
        json={
            "geometry": mapping(
                box(west + step * 0.2, south + step * 0.2, west + step * 0.4, south + step * 0.4)
            )
        },
    )
    assert moved.status_code == 200, moved.text
    assert spatial(client, project, reader)[0] == pytest.approx(west + step * 0.2)  # grew west

    deleted = client.delete(
        f"/api/v1/annotations/{far['id']}", headers={**writer, "If-Match": f'"{far["version"]}"'}
    )
    assert deleted.status_code == 204
    assert spatial(client, project, reader)[2] == pytest.approx(west + step * 6.5)  # never shrinks
