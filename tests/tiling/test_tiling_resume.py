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
