"""Keep geospatial libraries off the network.

GeoLabel runs on hosts with no network at all. PROJ can fetch transformation grids from a CDN; it must use
only the grids installed with it. This runs on import of :mod:`imagery`, before rasterio or pyproj create
their PROJ contexts, so every later import sees the same settings. GDAL's remote paths (``/vsicurl/``,
``http://``) are refused by :func:`imagery.reader.open_raster`.
"""

from __future__ import annotations

import os

OFFLINE_ENVIRONMENT = {
    "PROJ_NETWORK": "OFF",
}


def enforce_offline() -> None:
    """Force the offline settings into the process environment and into pyproj."""
    os.environ.update(OFFLINE_ENVIRONMENT)
    import pyproj.network

    pyproj.network.set_network_enabled(active=False)  # type: ignore[attr-defined]
