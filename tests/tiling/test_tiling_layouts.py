"""A run owns its chip layouts (issue 16): made once per chip size and metadata keys, shared by the run's
threads, gone with the run (no module-level cache one run could leave to the next)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tiling.chip import LayoutCache


def test_threads_of_a_run_share_one_layout_per_key() -> None:
    cache = LayoutCache()
    made: list[object] = []
    lock = threading.Lock()

    def make() -> Any:
        layout = object()
        with lock:
            made.append(layout)
        return layout

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: cache.get((512, 512, ("A",)), make), range(64)))
    assert len({id(layout) for layout in got}) == 1 and got[0] in made
    assert cache.get((512, 448, ("A",)), make) is not got[0]  # an edge chip's size: a layout of its own
