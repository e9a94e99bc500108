"""The labeling map's georeferencing in the browser, for a chip across the antimeridian: its footprint comes
split at 180 degrees (RFC 7946), yet every chip pixel maps to where it is on the ground and back, and the box
asking for its neighbours crosses 180 too (west > east). A chip elsewhere is unaffected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.ui.browser import UiPage

#: A 100 x 50 px chip from 179.5 E to 179.5 W, lat 9.5 to 10 (0.01 degree pixels), as the API gives it.
ACROSS = {
    "type": "MultiPolygon",
    "coordinates": [
        [[[179.5, 10], [179.5, 9.5], [180, 9.5], [180, 10], [179.5, 10]]],
        [[[-180, 10], [-180, 9.5], [-179.5, 9.5], [-179.5, 10], [-180, 10]]],
    ],
}
NAPLES = {"type": "Polygon", "coordinates": [[[14, 41], [14, 40.5], [15, 40.5], [15, 41], [14, 41]]]}

EVALUATE = """async (geometry) => {
  const georef = await import('/ui/js/map/georef.js');
  const { contextBox } = await import('/ui/js/map/chipmap.js');
  const chip = { col_off: 0, row_off: 0, width: 100, height: 50, geometry };
  const g = georef.chipGeoref(chip);
  return {
    corners: [g.toLonLat([0, 0]), g.toLonLat([100, 0]), g.toLonLat([100, -50]), g.toLonLat([0, -50])],
    inside: g.toLonLat([75, -25]),
    back: [g.fromLonLat([-179.75, 9.75]), g.fromLonLat([179.75, 9.75]), g.fromLonLat([180.25, 9.75])],
    box: contextBox(chip),
  };
}"""


@pytest.fixture
def page(open_ui: Callable[[], UiPage]) -> UiPage:
    ui = open_ui()
    ui.goto("")
    ui.page.wait_for_selector("form, main")
    return ui


def close(actual: list[float], expected: list[float]) -> bool:
    return all(abs(a - e) < 1e-9 for a, e in zip(actual, expected, strict=True))


def test_chip_across_the_antimeridian(page: UiPage) -> None:
    result: dict[str, Any] = page.page.evaluate(EVALUATE, ACROSS)
    corners = [[179.5, 10], [-179.5, 10], [-179.5, 9.5], [179.5, 9.5]]
    assert all(close(a, e) for a, e in zip(result["corners"], corners, strict=True)), result["corners"]
    assert close(result["inside"], [-179.75, 9.75]), "a pixel east of 180 is at its wrapped longitude"
    east, west, continuous = result["back"]
    assert close(east, [75, -25]) and close(west, [25, -25]) and close(continuous, [75, -25]), result["back"]
    west_lon, south, east_lon, north = (float(v) for v in result["box"].split(","))
    assert (west_lon, east_lon) == pytest.approx((179.0, -179.0)) and (south, north) == pytest.approx(
        (9.25, 10.25)
    )


def test_chip_elsewhere_is_unchanged(page: UiPage) -> None:
    result: dict[str, Any] = page.page.evaluate(EVALUATE, NAPLES)
    corners = [[14, 41], [15, 41], [15, 40.5], [14, 40.5]]
    assert all(close(a, e) for a, e in zip(result["corners"], corners, strict=True)), result["corners"]
    assert result["box"] == "13.500000000,40.250000000,15.500000000,41.250000000"
