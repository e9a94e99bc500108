"""An existing dask.distributed cluster writes the same chips as the local scheduler."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import LocalCluster

from tests.tiling.conftest import tree_digest

ARGS = ["--size", "256", "--overlap", "32"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    ) as local_cluster:
        yield local_cluster


@pytest.mark.slow
def test_cluster_output_equals_local_output(utm_image: Path, cluster: LocalCluster, tmp_path: Path) -> None:
    local, remote = tmp_path / "local", tmp_path / "cluster"
    command = [sys.executable, "-m", "geo_label", "tile", str(utm_image)]
    subprocess.run([*command, "--out", str(local), *ARGS], check=True, stdout=subprocess.DEVNULL)
    result = subprocess.run(
        [*command, "--out", str(remote), *ARGS, "--scheduler", cluster.scheduler_address],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "chips written" in result.stdout
    assert tree_digest(remote) == tree_digest(local)


def test_unreachable_scheduler_is_a_one_line_error(utm_image: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "geo_label",
            "tile",
            str(utm_image),
            "--out",
            str(tmp_path),
            "--scheduler",
            "tcp://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("geo-label: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
