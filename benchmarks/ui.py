"""UI benchmark: the labeling view with 0 and with 500 features on the chip, and with 500 model suggestions
(issue 13), in a real browser.

The customer's question: does the labeling view stay fast with hundreds of features on a chip, do drawing
and panning never stutter? Debian's chromium (headless, driven by Playwright, launched as the browser tests
launch it: never a downloaded browser) against the real server (``geo-label serve``). Every request that is
not to the server's origin is aborted (and counted): nothing is fetched from outside.

The fixture, through GeoLabel's services and API: one UNCLASSIFIED project (classes building: Polygon,
vehicle: Point, road: LineString), a synthetic 1024 x 1024 scene ingested as four 512-pixel chips, two
labelers; each takes their next task (``POST .../tasks/next``). The second one then draws 500 features on
their chip through ``POST /api/v1/annotations`` (60% polygons of 4-9 vertices, 20% points, 20% lines of 3-6
vertices; the view loads the labeler's own drafts). The first one's chip stays empty: the baseline. A third
labeler's chip has ``--suggestions`` (500) predictions of a model, the same kinds of shapes, scored 0.5 to 1
(all shown at the default threshold), drawn dashed with their scores.

Measured for each case, in a fresh tab, ``--repeat`` times (cases alternating):

(1) load: from the navigation to ``#/label/<task>`` (the page's time origin) until ``#feature-count`` reads
    "N features" and two animation frames later (the features drawn): the task, project, context chips and
    annotations requests, the chip preview, the map and the editor;
(2) pan and zoom: a scripted mouse drag across the map (40 moves), three wheel zooms in, the drag back,
    three wheel zooms out;
(3) drawing: the Polygon tool, 10 vertices clicked along a circle (the pointer moving there in 15 steps each,
    the sketch following it, snapping on), Enter.

For (2) and (3) the page records every ``requestAnimationFrame`` interval: p50, p95 and max frame time and
the share of frames over 33 ms (a dropped frame at 60 Hz and then some). Headless chromium paints in software
(no GPU), so absolute frame times are pessimistic: read the ratios to the 0-feature baseline measured in the
same run. This is a report: it exits 0 whatever the figures, non-zero only when a step itself fails.

The database is GEO_LABEL_DATABASE_URL when set, else GeoLabel's embedded cluster under ``bench-output/pg``
(as ``service.py``).

Run: ``.venv/bin/python benchmarks/ui.py [--features N] [--repeat K] [--keep]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# As in tiling.py: run as a script, benchmarks/ comes first on sys.path, where `tiling` (imported by the CLI)
# would be the tiling benchmark. Put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from playwright.sync_api import BrowserContext, Page, Route, sync_playwright  # noqa: E402
from shapely.geometry import mapping, shape  # noqa: E402

from access_control import default_registry, parse_marking  # noqa: E402
from benchmarks._common import (  # noqa: E402
    BENCH_AUDIT_KEY,
    StepFailedError,
    bench_token,
    remove_folder,
    run_report,
    scratch_folder,
)
from benchmarks.service import api_server, bench_database, child_env  # noqa: E402
from geo_label import projects, users  # noqa: E402
from geo_label.db.engine import Database  # noqa: E402
from geo_label.db.runtime import system_session  # noqa: E402
from geo_label.images import prepare_image, register_image  # noqa: E402
from imagery.synthetic import SceneSpec, write_scene  # noqa: E402
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tiling import TileParameters  # noqa: E402

API = "/api/v1"
DEFAULT_FEATURES = 500
SCENE_PX = 1024
CHIP_PX = 512
VIEWPORT = {"width": 1400, "height": 900}
CLASSES = [
    projects.LabelClass("building", ("Polygon",)),
    projects.LabelClass("vehicle", ("Point",)),
    projects.LabelClass("road", ("LineString",)),
]
#: Share of polygons, points and lines among the features.
MIX = (0.6, 0.2, 0.2)
CREATE_THREADS = 4
#: A frame longer than this is a dropped frame (two 60 Hz frames and then some).
DROPPED_MS = 33.0
PAGE_TIMEOUT_MS = 120_000
DRAW_VERTICES = 10
DRAW_STEPS = 15
PAN_MOVES = 40
TOKEN_KEY = "geolabel.token"  # api/web/js/api.js

#: Resolves with performance.now() two animation frames after ``#feature-count`` reads "N features".
WAIT_DRAWN_JS = """(n) => new Promise((resolve) => {
  const check = () => {
    const el = document.getElementById("feature-count");
    if (el && el.textContent === `${n} features`) {
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now())));
    } else {
      requestAnimationFrame(check);
    }
  };
  check();
})"""
TWO_FRAMES_JS = """() => new Promise((resolve) =>
  requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now()))))"""
START_FRAMES_JS = """() => {
  const bench = { frames: [], on: true, last: null };
  window.__geoLabelBench = bench;
  const tick = (t) => {
    if (bench.last !== null) bench.frames.push(t - bench.last);
    bench.last = t;
    if (bench.on) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
STOP_FRAMES_JS = """() => { window.__geoLabelBench.on = false; return window.__geoLabelBench.frames; }"""


# --- the fixture -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    label: str
    username: str
    user_id: uuid.UUID
    token: str = ""
    task_id: str = ""
    chip: dict[str, Any] = field(default_factory=dict)
    features: int = 0
    suggestions: int = 0


def create_world(database: Database, scratch: Path, names: Sequence[str]) -> dict[str, uuid.UUID]:
    """Labelers, the project and its ingested scene, as the operator; returns the labelers' ids."""
    registry = default_registry()
    ids = {}
    with system_session(database, registry) as session:
        operator = session.info["caller"]
        clearance = users.Clearance.parse("UNCLASSIFIED", citizenship="USA", registry=registry)
        for name in names:
            ids[name] = users.create_user(
                session, operator, username=name, password_hash=None, clearance=clearance
            ).user.id
    with system_session(database, registry) as session:
        project_id = projects.create_project(
            session,
            session.info["caller"],
            name="bench-ui",
            marking=parse_marking("UNCLASSIFIED", registry),
            classes=CLASSES,
            description="UI benchmark fixture",
            review_required=False,
        )
    with system_session(database, registry) as session:
        for name in names:
            projects.add_member(
                session, session.info["caller"], project_id=project_id, username=name, role="labeler"
            )
    scene = scratch / "scene.tif"
    write_scene(scene, SceneSpec(width=SCENE_PX, height=SCENE_PX, seed=42))
    with system_session(database, registry) as session:
        project = projects.get_project(session, session.info["caller"], project_id)
    prepared = prepare_image(
        scene,
        project=project,
        operator_marking=parse_marking("UNCLASSIFIED", registry),
        registry=registry,
        data_dir=scratch,
        params=TileParameters(size=CHIP_PX, overlap=0),
    )
    with system_session(database, registry) as session:
        register_image(session, session.info["caller"], project=project, prepared=prepared)
    return ids


def take_task(client: httpx.Client) -> dict[str, Any]:
    response = client.post(f"{API}/projects/{project_of(client)}/tasks/next")
    if response.status_code != 200:
        raise StepFailedError(f"POST tasks/next answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def project_of(client: httpx.Client) -> str:
    me = client.get(f"{API}/me")
    me.raise_for_status()
    return str(next(iter(me.json()["projects"])))


def random_features(chip: dict[str, Any], count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` features inside the chip's footprint (lon/lat), with MIX's shares of the three classes."""
    rng = np.random.default_rng(seed)
    footprint = shape(chip["geometry"])
    west, south, east, north = footprint.bounds
    inner = footprint.buffer(-0.01 * (east - west))
    size = east - west
    kinds = rng.choice(3, count, p=MIX)
    features: list[dict[str, Any]] = []
    for kind in kinds:
        while True:
            cx, cy = rng.uniform(west, east), rng.uniform(south, north)
            if kind == 1:
                geometry: Any = shapely.Point(cx, cy)
            elif kind == 0:
                n = int(rng.integers(4, 10))
                angles = np.sort(rng.uniform(0, 2 * math.pi, n))
                radii = rng.uniform(0.006, 0.02, n) * size
                geometry = shapely.Polygon(
                    list(zip(cx + radii * np.cos(angles), cy + radii * np.sin(angles), strict=True))
                )
            else:
                steps = rng.normal(0, 0.015 * size, (int(rng.integers(3, 7)), 2))
                geometry = shapely.LineString(np.cumsum(steps, axis=0) + np.array([cx, cy]))
            if geometry.is_valid and geometry.within(inner):
                break
        features.append(
            {
                "chip_id": chip["id"],
                "class": ("building", "vehicle", "road")[kind],
                "geometry": mapping(geometry),
            }
        )
    return features


def create_features(client: httpx.Client, features: list[dict[str, Any]]) -> float:
    """POST each feature (a few at a time); returns the seconds it took."""

    def post(feature: dict[str, Any]) -> None:
        response = client.post(f"{API}/annotations", json=feature)
        if response.status_code != 201:
            raise StepFailedError(f"POST /annotations answered {response.status_code}: {response.text[:300]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CREATE_THREADS) as pool:
        list(pool.map(post, features))
    return time.perf_counter() - started


# --- the browser -----------------------------------------------------------------------------------------


@dataclass
class Guard:
    """Aborts every request not to the server's origin, and remembers it."""

    origin: str
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        url = route.request.url
        if url.startswith((f"{self.origin}/", "data:", f"blob:{self.origin}/")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


def viewer_context(browser: Any, guard: Guard, token: str) -> BrowserContext:
    """A browser context signed in as one labeler (the token in sessionStorage, where the app keeps it)."""
    context: BrowserContext = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(f"sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(token)})")
    context.route("**/*", guard.route)
    return context


@dataclass
class Frames:
    deltas: list[float] = field(default_factory=list)

    def add(self, values: Sequence[float]) -> None:
        self.deltas.extend(float(v) for v in values)

    def p(self, q: float) -> float:
        ordered = sorted(self.deltas)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else math.nan

    @property
    def worst(self) -> float:
        return max(self.deltas) if self.deltas else math.nan

    @property
    def dropped(self) -> float:
        return sum(d > DROPPED_MS for d in self.deltas) / len(self.deltas) if self.deltas else math.nan


@dataclass
class CaseResult:
    viewer: Viewer
    loads_ms: list[float] = field(default_factory=list)
    pan: Frames = field(default_factory=Frames)
    draw: Frames = field(default_factory=Frames)
    drawn_features: list[int] = field(default_factory=list)


def frames_during(page: Page, action: Callable[[], None]) -> list[float]:
    page.evaluate(START_FRAMES_JS)
    action()
    page.wait_for_timeout(300)  # the last render and animation
    frames: list[float] = page.evaluate(STOP_FRAMES_JS)
    return frames


def map_boxes(page: Page) -> tuple[dict[str, float], list[float]]:
    """The map element's box on the page and the chip's box inside it (the page's data-chip-box)."""
    page.wait_for_function("() => document.getElementById('map')?.dataset.chipBox")
    box = page.locator("#map").bounding_box()
    if box is None:
        raise StepFailedError("the labeling view shows no map")
    rect = {"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"]}
    return rect, json.loads(page.eval_on_selector("#map", "el => el.dataset.chipBox"))


def pan_and_zoom(page: Page, box: dict[str, float]) -> None:
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    dx, dy = box["width"] * 0.3 / PAN_MOVES, box["height"] * 0.2 / PAN_MOVES
    for direction, wheel in ((1, -120), (-1, 120)):
        page.mouse.move(cx, cy)
        page.mouse.down()
        for i in range(1, PAN_MOVES + 1):
            page.mouse.move(cx + direction * dx * i, cy + direction * dy * i)
            page.wait_for_timeout(16)
        page.mouse.up()
        for _ in range(3):
            page.mouse.wheel(0, wheel)
            page.wait_for_timeout(150)


def draw_polygon(page: Page, box: dict[str, float], chip_box: list[float]) -> None:
    page.click("[data-tool=Polygon]")
    left, top, right, bottom = chip_box
    cx, cy = box["x"] + (left + right) / 2, box["y"] + (top + bottom) / 2
    rx, ry = (right - left) * 0.3, (bottom - top) * 0.3
    page.mouse.move(cx + rx, cy)
    for i in range(DRAW_VERTICES):
        angle = 2 * math.pi * i / DRAW_VERTICES
        x, y = cx + rx * math.cos(angle), cy + ry * math.sin(angle)
        page.mouse.move(x, y, steps=DRAW_STEPS)
        page.mouse.click(x, y)
        page.wait_for_timeout(50)
    page.keyboard.press("Enter")


def one_run(context: BrowserContext, origin: str, viewer: Viewer, result: CaseResult | None) -> None:
    """Open the task in a fresh tab, then pan and zoom, then draw; ``result`` None: an untimed warm-up."""
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        page.goto(f"{origin}/#/label/{viewer.task_id}", wait_until="commit")
        drawn_ms = float(page.evaluate(WAIT_DRAWN_JS, viewer.features))
        if viewer.suggestions:
            page.wait_for_selector(f"#map[data-suggestions='{viewer.suggestions}']")
            drawn_ms = float(page.evaluate(TWO_FRAMES_JS))
        box, chip_box = map_boxes(page)
        page.wait_for_timeout(300)  # the banner's roll-up and the last tiles
        pan = frames_during(page, lambda: pan_and_zoom(page, box))
        box, chip_box = map_boxes(page)
        draw = frames_during(page, lambda: draw_polygon(page, box, chip_box))
        count = page.inner_text("#feature-count")
        if result is not None:
            result.loads_ms.append(drawn_ms)
            result.pan.add(pan)
            result.draw.add(draw)
            result.drawn_features.append(int(count.split()[0]) - viewer.features)
    finally:
        page.close()


# --- the report ------------------------------------------------------------------------------------------


def print_report(results: Sequence[CaseResult], guard: Guard) -> None:
    load = os.getloadavg()
    print(f"\n  load average now {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    print(f"\n  {'case':<14} {'runs':>4} {'load p50 ms':>12} {'min':>7} {'max':>7}   drawn polygons per run")
    for r in results:
        print(
            f"  {r.viewer.label:<14} {len(r.loads_ms):4d} {statistics.median(r.loads_ms):12.0f} "
            f"{min(r.loads_ms):7.0f} {max(r.loads_ms):7.0f}   {r.drawn_features}"
        )
    print(
        f"\n  {'case':<14} {'phase':<12} {'frames':>6} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} "
        f"{'> ' + str(int(DROPPED_MS)) + ' ms':>8}"
    )
    for r in results:
        for phase, frames in (("pan + zoom", r.pan), ("drawing", r.draw)):
            print(
                f"  {r.viewer.label:<14} {phase:<12} {len(frames.deltas):6d} {frames.p(0.5):7.1f} "
                f"{frames.p(0.95):7.1f} {frames.worst:7.1f} {frames.dropped:8.1%}"
            )
    base = results[0]
    for busy in results[1:]:
        print(f"\n  ratios, {busy.viewer.label} over {base.viewer.label} (the baseline)")
        print(
            f"    load p50        {statistics.median(busy.loads_ms) / statistics.median(base.loads_ms):6.2f}"
        )
        for phase, b, f in (("pan + zoom", base.pan, busy.pan), ("drawing", base.draw, busy.draw)):
            dropped = f"{f.dropped / b.dropped:6.2f}" if b.dropped else f"{f.dropped:.1%} vs 0"
            print(
                f"    {phase:<15} p50 {f.p(0.5) / b.p(0.5):6.2f}   p95 {f.p(0.95) / b.p(0.95):6.2f}   "
                f"max {f.worst / b.worst:6.2f}   dropped-frame share {dropped}"
            )
    print(f"\n  requests to other origins: {len(guard.blocked)} (aborted){'' if not guard.blocked else ':'}")
    for url in sorted(set(guard.blocked))[:10]:
        print(f"    {url}")


# --- main ------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--features", type=int, default=DEFAULT_FEATURES, help="features on the busy chip")
    parser.add_argument("--suggestions", type=int, default=DEFAULT_FEATURES, help="suggestions on a chip")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per case")
    parser.add_argument("--keep", action="store_true", help="keep the database (and bench-output files)")
    args = parser.parse_args(argv)
    if args.features < 1 or args.repeat < 1:
        parser.error("--features and --repeat must be at least 1")
    return args


def viewer(
    owner_url: str,
    origin: str,
    key: str,
    label: str,
    username: str,
    user_id: uuid.UUID,
    features: int,
    suggestions: int = 0,
    database: Database | None = None,
) -> Viewer:
    """A labeler with their next task; ``features`` of their own drawn on its chip through the API, and
    ``suggestions`` of a model imported onto it."""
    token = bench_token(owner_url, user_id, key)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=origin, headers=headers, timeout=120) as client:
        task = take_task(client)
        if features:
            seconds = create_features(client, random_features(task["chip"], features))
            print(f"  features {features} created through POST /annotations in {seconds:.1f} s", flush=True)
    if suggestions:
        assert database is not None
        suggest(database, task["chip"], suggestions)
    return Viewer(label, username, user_id, token, str(task["id"]), task["chip"], features, suggestions)


def suggest(database: Database, chip: dict[str, Any], count: int) -> None:
    """``count`` predictions of the model bench@1 on the chip (scores 0.5 to 1), imported as the operator."""
    from geo_label.predictions.importing import ImportOptions, import_predictions
    from geo_label.predictions.registry import add_model

    rng = np.random.default_rng(11)
    lines = [
        json.dumps(
            {
                "type": "Feature",
                "geometry": feature["geometry"],
                "properties": {"class": feature["class"], "score": round(float(rng.uniform(0.5, 1.0)), 3)},
            }
        )
        for feature in random_features(chip, count, seed=13)
    ]
    registry = default_registry()
    path = Path(scratch_folder("ui-suggestions")) / "suggestions.geojsonl"
    path.write_text("\n".join(lines) + "\n")
    with system_session(database, registry) as session:
        project_id = uuid.UUID(str(chip["project_id"]))
        add_model(session, session.info["caller"], project_id, name="bench", version="1")
    with system_session(database, registry) as session:
        report = import_predictions(
            session,
            session.info["caller"],
            project_id=project_id,
            model="bench@1",
            path=path,
            registry=registry,
            options=ImportOptions(marking=parse_marking("UNCLASSIFIED", registry)),
        )
    print(f"  suggestions {report.imported} imported onto the chip", flush=True)


def run(args: argparse.Namespace) -> None:
    with bench_database(keep=args.keep) as bench:
        database = Database.connect(bench.owner_url, audit_key=BENCH_AUDIT_KEY, pool_size=2)
        scratch = scratch_folder("ui")
        try:
            started = time.perf_counter()
            plan = [
                ("0 features", "bench-ui-empty", 0, 0),
                (f"{args.features} features", "bench-ui-busy", args.features, 0),
                (f"{args.suggestions} suggested", "bench-ui-suggested", 0, args.suggestions),
            ]
            ids = create_world(database, scratch, [username for _, username, _, _ in plan])
            print(
                f"  fixture  1 project, 2 labelers, a {SCENE_PX} px scene ingested as 4 chips in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            key = secrets.token_hex(32)
            with api_server(child_env(bench, scratch, key), scratch / "serve.log") as origin:
                viewers = [
                    viewer(bench.owner_url, origin, key, label, username, ids[username], n, m, database)
                    for label, username, n, m in plan
                ]
                measure(viewers, origin, args.repeat)
        finally:
            database.dispose()
            if not args.keep:
                remove_folder(scratch)


def measure(viewers: list[Viewer], origin: str, repeat: int) -> None:
    guard = Guard(origin)
    results = [CaseResult(v) for v in viewers]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            contexts = [viewer_context(browser, guard, v.token) for v in viewers]
            for context, viewer in zip(contexts, viewers, strict=True):
                one_run(context, origin, viewer, None)  # warm-up: modules, caches, JIT
            for run_index in range(repeat):
                for context, result in zip(contexts, results, strict=True):
                    one_run(context, origin, result.viewer, result)
                    load = os.getloadavg()[0]
                    print(
                        f"    run {run_index + 1} {result.viewer.label:<14} view drawn in "
                        f"{result.loads_ms[-1]:6.0f} ms; load average {load:.2f}",
                        flush=True,
                    )
        finally:
            browser.close()
    print_report(results, guard)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_report(
        "GeoLabel UI benchmark: the labeling view with 0 and with many features, headless chromium",
        lambda: run(args),
    )


if __name__ == "__main__":
    sys.exit(main())
