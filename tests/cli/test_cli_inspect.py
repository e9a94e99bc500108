"""`geo-label inspect IMAGE [--json]` as a user runs it: a real subprocess on real files.

Every run of the module starts in parallel once (each is an interpreter start-up, about a second); the tests
then check one result each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil  # tests.rasters.plain_png calls rasterio.shutil.copy without importing it
from rasterio.transform import from_origin
from shapely.geometry import MultiPolygon, Polygon, shape

from imagery.synthetic import SceneSpec, write_scene
from tests import rasters

pytestmark = pytest.mark.slow  # a dozen interpreter start-ups, run in parallel

from tests.imagery.conftest import INSPECT_JSON_KEYS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def crossing_antimeridian(path: Path) -> Path:
    """EPSG:4326 from lon 179.5 to 180.5."""
    profile = {
        "driver": "GTiff",
        "width": 100,
        "height": 50,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:4326",
    }
    with rasterio.open(path, "w", transform=from_origin(179.5, 10.0, 0.01, 0.01), **profile) as dst:
        dst.write(np.arange(5000, dtype=np.uint8).reshape(1, 50, 100))
    return path


def truncated_jpeg2000(path: Path) -> Path:
    """A lossless 320 x 240 JPEG 2000 scene in 128 x 128 tiles, cut to 60% of its bytes."""
    options = {"QUALITY": 100, "REVERSIBLE": "YES", "BLOCKXSIZE": 128, "BLOCKYSIZE": 128}
    spec = SceneSpec(width=320, height=240, bands=3, driver="JP2OpenJPEG", creation_options=options)
    whole = write_scene(path.with_name("whole.jp2"), spec)
    return rasters.truncated(path, whole, keep_fraction=0.6)


def text_file(path: Path) -> Path:
    path.write_text("this is a shopping list, not an image\n", encoding="utf-8")
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def noise_after_tiff_header(path: Path) -> Path:
    path.write_bytes(b"II*\x00" + np.random.default_rng(11).bytes(4096))
    return path


@pytest.fixture(scope="module")
def images(utm_image: Path, png_image: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("cli_inspect")
    return {
        "utm": str(utm_image),
        "nitf": str(rasters.nitf(folder / "ts.ntf", FSCLAS="T", FSCODE="SI TK", FSCTLH="NF")),
        "crossing": str(crossing_antimeridian(folder / "crossing.tif")),
        "missing": str(folder / "does-not-exist.tif"),
        "text": str(text_file(folder / "notes.tif")),
        "png": str(png_image),
        "empty": str(empty_file(folder / "empty.tif")),
        "truncated": str(rasters.truncated(folder / "truncated.tif", utm_image, keep_fraction=0.6)),
        "corrupt": str(noise_after_tiff_header(folder / "noise.tif")),
        "absurd": str(rasters.absurd_tiff(folder / "absurd.tif")),
        "restricted": str(rasters.nitf(folder / "restricted.ntf", FSCLAS="R")),
        "remote": "https://example.invalid/scene.tif",
        "jp2-truncated": str(truncated_jpeg2000(folder / "truncated.jp2")),
    }


#: (name, image, extra arguments) of every run.
RUNS = {
    "utm-table": ("utm", []),
    "utm-json": ("utm", ["--json"]),
    "nitf-json": ("nitf", ["--json"]),
    "crossing-json": ("crossing", ["--json"]),
    **{name: (name, []) for name in ("missing", "text", "png", "empty", "corrupt", "absurd", "restricted")},
    "truncated-json": ("truncated", ["--json"]),
    "remote": ("remote", []),
    "jp2-truncated": ("jp2-truncated", []),
}


@pytest.fixture(scope="module")
def runs(images: dict[str, str]) -> dict[str, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)

    def run(image: str, extra: list[str]) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "geo_label", "inspect", image, *extra]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)

    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        futures = {name: pool.submit(run, images[image], extra) for name, (image, extra) in RUNS.items()}
        return {name: future.result() for name, future in futures.items()}


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("geo-label: error: ")
    assert result.stdout == ""
    return lines[0]


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("missing", lambda line: "no such file" in line),
        ("text", lambda line: "not a raster" in line),
        ("png", lambda line: "no georeferencing" in line),
        ("empty", lambda line: "empty" in line and "not a raster" not in line),
        ("truncated-json", lambda line: "truncated or corrupt" in line or "cannot open" in line),
        ("corrupt", lambda line: "cannot open" in line or "corrupt" in line),
        ("absurd", lambda line: "implausible" in line or "cannot open" in line),
        ("restricted", lambda line: "FSCLAS='R'" in line),
        ("remote", lambda line: "never uses the network" in line),
    ],
)
def test_user_errors_are_one_line_without_traceback(
    runs: dict[str, subprocess.CompletedProcess[str]],
    images: dict[str, str],
    name: str,
    says: Callable[[str], bool],
) -> None:
    line = assert_one_line_error(runs[name])
    assert says(line), line
    if name != "remote":  # a URL is not a path: pathlib folds its "//"
        assert images[name.removesuffix("-json")] in line


def test_truncated_jpeg2000_is_one_line_too(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    line = assert_one_line_error(runs["jp2-truncated"])
    assert "truncated or corrupt" in line


def test_table_output(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = runs["utm-table"]
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for text in ("GTiff", "1100 x 900 pixels, 4 bands, uint16", "EPSG:32633", "Polygon", "SYNTH-1"):
        assert text in result.stdout
    assert "2024-05-06T07:08:09+00:00" in result.stdout
    assert "none in the file" in result.stdout  # no marking in a GeoTIFF


def test_json_output(runs: dict[str, subprocess.CompletedProcess[str]], images: dict[str, str]) -> None:
    result = runs["utm-json"]
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= INSPECT_JSON_KEYS
    assert data["path"] == images["utm"]
    assert (data["driver"], data["width"], data["height"], data["bands"]) == ("GTiff", 1100, 900, 4)
    assert data["dtype"] == "uint16" and data["nodata"] is None
    assert data["crs"]["epsg"] == 32633 and "UTM zone 33N" in data["crs"]["name"]
    assert data["transform"] == [10.0, 0.0, 399960.0, 0.0, -10.0, 4500000.0]
    assert data["georeferencing"] == "geotransform"
    footprint = shape(data["footprint"])
    assert isinstance(footprint, Polygon) and footprint.is_valid and footprint.exterior.is_ccw
    assert data["gsd_m"]["across"] == pytest.approx(10.0, rel=1e-3)
    assert data["gsd_m"]["along"] == pytest.approx(10.0, rel=1e-3)
    assert data["acquired_at"] == "2024-05-06T07:08:09+00:00"
    assert data["sensor"] == "SYNTH-1"
    assert data["marking"] is None
    assert len(data["display"]["bands"]) == 3
    assert all(lo < hi for lo, hi in zip(data["display"]["low"], data["display"]["high"], strict=True))


def test_nitf_marking(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    assert runs["nitf-json"].returncode == 0, runs["nitf-json"].stderr
    data = json.loads(runs["nitf-json"].stdout)
    assert data["marking"] == "TOP SECRET//SI/TK//NOFORN"
    assert data["driver"] == "NITF"
    assert data["acquired_at"] == "2024-01-02T03:04:05+00:00"
    assert data["sensor"] == "WV03"


def test_antimeridian_footprint_in_json(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = runs["crossing-json"]
    assert result.returncode == 0, result.stderr
    footprint = shape(json.loads(result.stdout)["footprint"])
    assert isinstance(footprint, MultiPolygon) and footprint.is_valid
    assert sorted(round(part.bounds[0], 6) for part in footprint.geoms) == [-180.0, 179.5]
    assert all(part.exterior.is_ccw for part in footprint.geoms)
