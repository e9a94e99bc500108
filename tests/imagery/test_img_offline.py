"""Importing imagery switches PROJ's network access off, whatever the environment asked for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyproj.network
import pytest

import imagery
from imagery.offline import enforce_offline

REPO = Path(__file__).resolve().parents[2]


def python_says(code: str, **environment: str) -> list[str]:
    """The words a fresh interpreter prints running ``code`` with these environment variables set."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
        cwd=REPO,
        check=True,
        timeout=60,
    )
    return result.stdout.split()


def test_import_turns_proj_network_off_even_when_the_environment_turned_it_on() -> None:
    code = (
        "import os, pyproj.network as network\n"
        "before = network.is_network_enabled()\n"
        "import imagery\n"
        "print(before, os.environ['PROJ_NETWORK'], network.is_network_enabled())\n"
    )
    assert python_says(code, PROJ_NETWORK="ON") == ["True", "OFF", "False"]


def test_offline_in_this_process() -> None:
    assert imagery.enforce_offline is enforce_offline
    assert os.environ["PROJ_NETWORK"] == "OFF"
    assert pyproj.network.is_network_enabled() is False


def test_enforce_offline_undoes_a_later_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJ_NETWORK", "ON")
    pyproj.network.set_network_enabled(active=True)
    try:
        enforce_offline()
        assert os.environ["PROJ_NETWORK"] == "OFF"
        assert pyproj.network.is_network_enabled() is False
    finally:
        enforce_offline()


GRID_CHECK = (
    "import imagery, pyproj\n"
    "from pyproj.transformer import TransformerGroup\n"
    "best = TransformerGroup('EPSG:4314', 'EPSG:4326').transformers[0]\n"
    "print('hgridshift' in best.definition, pyproj.datadir.get_data_dir().split(':')[0].endswith('proj'))\n"
)


@pytest.mark.parametrize(("folders", "uses_grid"), [("/usr/share/proj", True), ("", False)])
def test_datum_shift_grids_come_from_the_named_folders(folders: str, uses_grid: bool) -> None:
    """Debian's proj-data (a test dependency, and in the offline bundle) holds BETA2007.gsb: DHDN to WGS 84
    takes the grid when its folder is searched, the 3 m Helmert fit when it is not; pyproj's own folder
    (its proj.db) stays first."""
    assert python_says(GRID_CHECK, GEO_LABEL_PROJ_GRIDS=folders) == [str(uses_grid), "True"]
