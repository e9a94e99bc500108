"""A run killed at any point and run again finishes with output identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rasterio

from imagery.synthetic import SceneSpec, write_scene
from tests.tiling.conftest import tree_digest
from tiling.chip import recorded_valid_fraction

ARGS = ["--size", "128", "--overlap", "16", "--workers", "1"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resume") / "scene.tif"
    return write_scene(path, SceneSpec(width=2600, height=2600, seed=7))


@pytest.fixture(scope="module")
def uninterrupted(scene: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run(
        [sys.executable, "-m", "geo_label", "tile", str(scene), "--out", str(out), *ARGS], check=True
    )
    return tree_digest(out)


def tile_command(scene: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "geo_label", "tile", str(scene), "--out", str(out), *ARGS]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_chips", [3, 150])
def test_killed_run_resumes_to_identical_output(
    scene: Path, uninterrupted: dict[str, str], tmp_path: Path, kill_after_chips: int
) -> None:
    process = subprocess.Popen(
        tile_command(scene, tmp_path), stdout=subprocess.DEVNULL, start_new_session=True
    )
    chips = tmp_path / "chips"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if chips.is_dir() and sum(1 for p in chips.glob("r*.tif")) >= kill_after_chips:
            break
        time.sleep(0.005)
    assert process.poll() is None, "the run finished before it could be killed: make the scene larger"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    assert not (tmp_path / "index.parquet").exists()
    for chip in chips.glob("r*.tif"):  # what is visible is whole: temporaries are hidden dot-files
        with rasterio.open(chip) as dataset:
            dataset.read(1, window=((dataset.height - 1, dataset.height), (0, dataset.width)))

    subprocess.run(tile_command(scene, tmp_path), check=True, stdout=subprocess.DEVNULL)
    assert tree_digest(tmp_path) == uninterrupted
    assert not [p for p in tmp_path.rglob(".*tmp-*")], "stale temporaries cleaned up"


#: `geo-label tile` in a process whose file system fails the fifth close with EIO (as NFS reports a write it
#: failed late): the run must fail before that file has its final name.
FAILING_CLOSE = """
import errno, itertools, os, sys
import tiling.atomic
closes = itertools.count()
def close(descriptor):
    os.close(descriptor)
    if next(closes) == 4:
        raise OSError(errno.EIO, "Input/output error")
tiling.atomic.close_descriptor = close
from geo_label.cli import main
sys.argv = ["geo-label", *sys.argv[1:]]
main()
"""


def test_a_chip_cut_short_is_written_again_not_kept(
    scene: Path, uninterrupted: dict[str, str], tmp_path: Path
) -> None:
    """Resume checks a chip is whole, not only that its tags read (issue 16): a chip and a preview cut short
    under their final names (a crash, a full disk) in a batch not recorded as done are written again."""
    subprocess.run(tile_command(scene, tmp_path), check=True, stdout=subprocess.DEVNULL)
    # As if the run had stopped before recording any batch (and so before its index).
    for record in (tmp_path / ".geo-label" / "batches").iterdir():
        record.unlink()
    for index in ("index.parquet", "index.gpkg"):
        (tmp_path / index).unlink()
    chip = sorted((tmp_path / "chips").glob("r*.tif"))[-1]
    with chip.open("r+b") as handle:
        handle.truncate(chip.stat().st_size - 100)  # the tags still read: the last tile is cut
    preview = sorted((tmp_path / "previews").glob("*.jpg"))[0]
    with preview.open("r+b") as handle:
        handle.truncate(preview.stat().st_size // 2)
    again = subprocess.run(tile_command(scene, tmp_path), check=True, capture_output=True, text=True)
    assert "2 chips written" in again.stdout, again.stdout  # the two with a cut file, and only those
    assert tree_digest(tmp_path) == uninterrupted


def test_a_chip_whose_close_fails_is_never_named(
    scene: Path, uninterrupted: dict[str, str], tmp_path: Path
) -> None:
    """A write the file system fails on close fails the run before the file has its name; run again, the
    output is the uninterrupted run's (issue 16)."""
    command = [sys.executable, "-c", FAILING_CLOSE, "tile", str(scene), "--out", str(tmp_path), *ARGS]
    failed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert failed.returncode != 0 and "Input/output error" in failed.stderr, failed.stderr
    assert not (tmp_path / "index.parquet").exists()
    for chip in (tmp_path / "chips").glob("r*.tif"):  # every named chip is whole
        assert recorded_valid_fraction(chip) is not None, chip
    assert not [p for p in tmp_path.rglob(".*tmp-*")], "the failed file's temporary is gone"
    subprocess.run(tile_command(scene, tmp_path), check=True, stdout=subprocess.DEVNULL)
    assert tree_digest(tmp_path) == uninterrupted
