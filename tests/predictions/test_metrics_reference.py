"""GeoLabel's detection metrics held to a well-kept reference: pycocotools' COCOeval computes the same AP50,
AP50:95 and per-class AP on the same boxes, to 1e-6 (issue 13, part 4).

The boxes are axis-aligned (COCO's ``bbox`` IoU is then exactly the shapes' IoU) and random, on a few images
and classes, with detections that copy, shift, shrink or miss references and others that hit nothing. COCO's
limit of 100 detections per image is lifted for the comparison, as GeoLabel has none.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import shapely
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from geo_label.predictions.metrics import Shapes, compute

CLASSES = ("vehicle", "building", "tank")


def scene(seed: int) -> tuple[Shapes, Shapes]:
    rng = np.random.default_rng(seed)
    n_truth = int(rng.integers(5, 60))
    images = rng.integers(1, 4, n_truth)
    labels = rng.choice(len(CLASSES), n_truth)
    x = 10.0 + rng.uniform(0, 0.01, n_truth)
    y = 50.0 + rng.uniform(0, 0.01, n_truth)
    w = rng.uniform(2e-5, 2e-4, n_truth)
    h = rng.uniform(2e-5, 2e-4, n_truth)
    truth_boxes = np.column_stack([x, y, x + w, y + h])
    found_boxes, found_images, found_labels = [], [], []
    for i in range(n_truth):
        for _ in range(int(rng.integers(0, 3))):  # none, one or two detections of it
            dx, dy = rng.normal(0, 0.1, 2) * (w[i], h[i])
            sx, sy = rng.uniform(0.75, 1.25, 2)
            found_boxes.append([x[i] + dx, y[i] + dy, x[i] + dx + w[i] * sx, y[i] + dy + h[i] * sy])
            found_images.append(images[i])
            found_labels.append(labels[i] if rng.random() < 0.85 else rng.integers(0, len(CLASSES)))
    for _ in range(int(rng.integers(0, 15))):  # detections of nothing
        fx, fy = 10.0 + rng.uniform(0, 0.01), 50.0 + rng.uniform(0, 0.01)
        found_boxes.append([fx, fy, fx + 1e-4, fy + 1e-4])
        found_images.append(rng.integers(1, 4))
        found_labels.append(rng.integers(0, len(CLASSES)))
    scores = rng.permutation(len(found_boxes)) / max(len(found_boxes), 1) * 0.98 + 0.01  # distinct
    truth = Shapes(
        image=[int(i) for i in images],
        label=[CLASSES[k] for k in labels],
        geometry=list(shapely.box(*np.asarray(truth_boxes).T)),
    )
    found = Shapes(
        image=[int(i) for i in found_images],
        label=[CLASSES[int(k)] for k in found_labels],
        geometry=list(shapely.box(*np.asarray(found_boxes).reshape(-1, 4).T)) if found_boxes else [],
        score=scores.tolist(),
    )
    return truth, found


def coco_bbox(geometry: shapely.Geometry) -> list[float]:
    west, south, east, north = geometry.bounds
    return [west, south, east - west, north - south]


def reference(truth: Shapes, found: Shapes) -> tuple[float, float, dict[str, float]]:
    """AP50, AP50:95 and AP50 per class by pycocotools."""
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(CLASSES)]
    ids = {name: k + 1 for k, name in enumerate(CLASSES)}
    dataset = {
        "images": [{"id": i} for i in (1, 2, 3)],
        "categories": categories,
        "annotations": [
            {
                "id": n + 1,
                "image_id": truth.image[n],
                "category_id": ids[truth.label[n]],
                "bbox": coco_bbox(truth.geometry[n]),
                "area": truth.geometry[n].area,
                "iscrowd": 0,
            }
            for n in range(len(truth))
        ],
    }
    results = [
        {
            "image_id": found.image[n],
            "category_id": ids[found.label[n]],
            "bbox": coco_bbox(found.geometry[n]),
            "score": found.score[n],  # type: ignore[index]
        }
        for n in range(len(found))
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = gt.loadRes(results) if results else COCO()
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.params.maxDets = [100_000]
        evaluation.params.areaRng = [[0.0, 1e10]]
        evaluation.params.areaRngLbl = ["all"]
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][:, :, :, 0, 0]  # IoU, recall, class
    ap50 = float(np.mean(precision[0][precision[0] > -1]))
    ap50_95 = float(np.mean(precision[precision > -1]))
    per_class = {
        CLASSES[k]: float(np.mean(precision[0, :, k])) for k in range(len(CLASSES)) if precision[0, 0, k] > -1
    }
    return ap50, ap50_95, per_class


@pytest.mark.parametrize("seed", range(25))
def test_ap_agrees_with_pycocotools(seed: int) -> None:
    truth, found = scene(seed)
    if not len(found):
        pytest.skip("no detections drawn")
    ours = compute(truth, found)
    ap50, ap50_95, per_class = reference(truth, found)
    assert ours.overall.ap50 == pytest.approx(ap50, abs=1e-6)
    assert ours.overall.ap50_95 == pytest.approx(ap50_95, abs=1e-6)
    for name, value in per_class.items():
        assert ours.classes[name].ap50 == pytest.approx(value, abs=1e-6), name


def test_precision_recall_and_confusion_at_the_thresholds() -> None:
    box = shapely.box(10.0, 50.0, 10.0001, 50.0001)
    shifted = shapely.box(10.00002, 50.0, 10.00012, 50.0001)  # IoU 8/12
    far = shapely.box(10.01, 50.01, 10.0101, 50.0101)
    truth = Shapes(image=[1, 1], label=["vehicle", "tank"], geometry=[box, far])
    found = Shapes(
        image=[1, 1, 1, 2],
        label=["vehicle", "vehicle", "tank", "vehicle"],
        geometry=[shifted, box, shapely.box(10.02, 50.02, 10.0201, 50.0201), box],
        score=[0.9, 0.3, 0.8, 0.7],
    )
    metrics = compute(truth, found, iou=0.5, score=0.5)
    vehicle = metrics.classes["vehicle"]
    assert (vehicle.predictions, vehicle.labels, vehicle.true_positives) == (2, 1, 1)  # the 0.3 is not shown
    assert (vehicle.precision, vehicle.recall) == (0.5, 1.0)
    assert metrics.classes["tank"].true_positives == 0
    assert metrics.overall.predictions == 3 and metrics.overall.labels == 2
    assert metrics.confusion == {
        "vehicle": {"vehicle": 1},
        "none": {"tank": 1, "vehicle": 1},
        "tank": {"none": 1},
    }
    strict = compute(truth, found, iou=0.7, score=0.0)
    assert strict.classes["vehicle"].true_positives == 1  # the exact copy, not the shifted one


def test_points_match_within_the_distance() -> None:
    here = shapely.Point(10.0, 50.0)
    near = shapely.Point(10.0 + 0.3 / 71_600, 50.0)  # about 30 cm east
    truth = Shapes(image=[1], label=["vehicle"], geometry=[here])
    found = Shapes(image=[1], label=["vehicle"], geometry=[near], score=[0.9])
    assert compute(truth, found).overall.true_positives == 1
    away = Shapes(image=[1], label=["vehicle"], geometry=[shapely.Point(10.001, 50.0)], score=[0.9])
    assert compute(truth, away).overall.true_positives == 0


def test_an_object_across_the_antimeridian_is_matched_once() -> None:
    """Stored split at 180 degrees (RFC 7946), a reference and a detection of the same ship across the
    antimeridian match (IoU of the joined shapes); a detection on the other side of the globe does not."""

    def across(shift: float) -> shapely.MultiPolygon:
        west = shapely.box(179.9998 + shift, -17.0, 180.0, -16.9998)
        east = shapely.box(-180.0, -17.0, -179.9998 + shift, -16.9998)
        return shapely.MultiPolygon([west, east])

    truth = Shapes(image=[1], label=["vehicle"], geometry=[across(0.0)])
    found = Shapes(
        image=[1, 1],
        label=["vehicle", "vehicle"],
        geometry=[across(0.00002), shapely.box(0.0, -17.0, 0.0004, -16.9998)],
        score=[0.9, 0.8],
    )
    metrics = compute(truth, found)
    assert (metrics.overall.true_positives, metrics.overall.predictions) == (1, 2)
    assert metrics.overall.ap50 == 1.0
