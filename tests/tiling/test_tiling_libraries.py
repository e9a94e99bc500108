"""pyarrow is imported by the threads of a run one at a time (regression: a run failed with "cannot import
name 'BuildInfo' from partially initialized module 'pyarrow.lib'" when two threads imported it at once)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: Run in a fresh interpreter (pyarrow not yet imported): records, for every pyarrow module imported,
#: whether tiling.libraries' lock was held, then calls one way a worker or the index's thread loads it.
PROBE = textwrap.dedent(
    """
    import sys, types
    import numpy as np
    import tiling.libraries as libraries
    assert not any(name.startswith("pyarrow") for name in sys.modules)

    unlocked = []

    class Watch:
        def find_spec(self, name, path=None, target=None):
            if name.startswith("pyarrow") and not libraries._IMPORT_LOCK.locked():
                unlocked.append(name)
            return None

    sys.meta_path.insert(0, Watch())
    ENTRY
    assert any(name.startswith("pyarrow") for name in sys.modules), "pyarrow was not loaded"
    print(",".join(unlocked) or "all under the lock")
    """
)

ENTRIES = {
    "chip encoder": (
        "from tiling.chip_tiff import ChipTiffWriter; ChipTiffWriter(types.SimpleNamespace("
        "zstd_level=1, tile_height=16, tile_width=16, bands=1, dtype=np.dtype('uint16')))"
    ),
    "index footprints": (
        "from tiling.index import chip_footprints; from tiling.windows import chip_windows; "
        "from pyproj import CRS; "
        "chip_footprints((10.0, 0.0, 5e5, 0.0, -10.0, 6e6), CRS.from_epsg(32633).to_wkt(), "
        "chip_windows(64, 64, 32, 0))"
    ),
}


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_pyarrow_is_first_imported_under_the_lock(entry: str) -> None:
    probe = PROBE.replace("ENTRY", ENTRIES[entry])
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "all under the lock"
