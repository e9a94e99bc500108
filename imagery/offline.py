"""Keep geospatial libraries off the network, and give them the datum shift grids installed on the host.

GeoLabel runs on hosts with no network at all. PROJ can fetch transformation grids from a CDN; it must use
only the grids installed with it. This runs on import of :mod:`imagery`, before rasterio or pyproj create
their PROJ contexts, so every later import sees the same settings. GDAL's remote paths (``/vsicurl/``,
``http://``) are refused by :func:`imagery.reader.open_raster`.

Grids: pyproj's wheel carries PROJ's database but no grids. The folders in ``GEO_LABEL_PROJ_GRIDS``
(``:``-separated; default ``/usr/share/proj``, where Debian's proj-data puts them) are searched *after*
pyproj's own data folder, so PROJ still reads the ``proj.db`` of its own version and takes only grid files
from there (old names such as ``BETA2007.gsb`` are found for today's ``de_adv_BETA2007.tif``).
"""

from __future__ import annotations

import os
from pathlib import Path

OFFLINE_ENVIRONMENT = {
    "PROJ_NETWORK": "OFF",
}
GRIDS_VARIABLE = "GEO_LABEL_PROJ_GRIDS"
DEFAULT_GRID_FOLDERS = "/usr/share/proj"


def grid_folders() -> list[str]:
    """The existing folders named by ``GEO_LABEL_PROJ_GRIDS`` (or the default), in order."""
    named = os.environ.get(GRIDS_VARIABLE, DEFAULT_GRID_FOLDERS)
    return [folder for folder in named.split(os.pathsep) if folder and Path(folder).is_dir()]


def enforce_offline() -> None:
    """Force the offline settings into the process environment and into pyproj; add the grid folders."""
    os.environ.update(OFFLINE_ENVIRONMENT)
    import pyproj.datadir
    import pyproj.network

    pyproj.network.set_network_enabled(active=False)  # type: ignore[attr-defined]
    own = pyproj.datadir.get_data_dir()
    extra = [folder for folder in grid_folders() if folder not in own.split(os.pathsep)]
    if extra:
        pyproj.datadir.set_data_dir(os.pathsep.join([own, *extra]))
