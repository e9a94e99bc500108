"""Detection metrics of a model against reference objects, as COCO defines them, on georeferenced shapes.

Matching is in geographic space (planar degrees, as the export's merge rule measures overlap: a ratio such as
IoU hardly changes over an object's extent). Polygons are compared as they are; points and lines as the
areas within ``distance_m`` of them. Shapes stored split at the antimeridian are compared as stored (both
sides split alike), so an object across it is matched once.

COCO's definitions (pycocotools' ``COCOeval``, ``iouType="bbox"``/``"segm"``), per image and class:
detections in descending score order each take the unmatched reference of highest IoU at or above the
threshold; precision is made monotone from the right and sampled at 101 recall points; AP is their mean;
AP50 is AP at IoU 0.5, AP50:95 the mean over IoU 0.50, 0.55, ..., 0.95; over all classes, the mean of the
classes that have references. Two departures, both for satellite scenes: no limit on detections per image
(COCO keeps each image's best 100; a scene holds thousands of objects), and no area ranges or crowd regions.
tests/predictions/test_metrics_reference.py holds these to pycocotools to 1e-6.

Precision, recall and F1 are reported at one IoU threshold and one score threshold (the detections a person
would be shown); the confusion matrix matches regardless of class, at the same thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import shapely
import shapely.affinity
from numpy.typing import NDArray

IOU_THRESHOLDS: Final = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))
RECALL_POINTS: Final = np.linspace(0.0, 1.0, 101)
METRES_PER_DEGREE: Final = 111_320.0
NONE: Final = "none"


@dataclass(frozen=True)
class Shapes:
    """Objects of one kind (references or detections): per object its image (any hashable key), class, shape
    (EPSG:4326) and, for detections, score."""

    image: Sequence[Any]
    label: Sequence[str]
    geometry: Sequence[Any]
    score: Sequence[float] | None = None

    def __len__(self) -> int:
        return len(self.label)


@dataclass(frozen=True)
class ClassFigures:
    precision: float | None
    recall: float | None
    f1: float | None
    ap50: float | None
    ap50_95: float | None
    predictions: int
    labels: int
    true_positives: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "ap50": self.ap50,
            "ap50_95": self.ap50_95,
            "predictions": self.predictions,
            "labels": self.labels,
            "true_positives": self.true_positives,
        }


@dataclass(frozen=True)
class Metrics:
    iou: float
    score: float
    overall: ClassFigures
    classes: dict[str, ClassFigures]
    confusion: dict[str, dict[str, int]]
    #: Precision at the 101 recall points at IoU 0.5, averaged over the classes with references (for a plot).
    curve: list[float]


def areal(geometries: Sequence[Any], distance_m: float) -> NDArray[np.object_]:
    """Polygons as they are; points and lines as the area within ``distance_m`` of them (degrees, the
    longitude scaled by the latitude)."""
    shapes: NDArray[np.object_] = np.empty(len(geometries), dtype=object)
    shapes[:] = list(geometries)
    if not len(shapes):
        return shapes
    dimension = shapely.get_dimensions(shapes)
    thin = np.flatnonzero(dimension < 2)
    if len(thin):
        centres = shapely.get_coordinates(shapely.centroid(shapes[thin]))
        squash = np.cos(np.radians(centres[:, 1]))
        radius = distance_m / METRES_PER_DEGREE
        for k, index in enumerate(thin):
            scale = max(float(squash[k]), 1e-6)
            # Buffer in a frame where a degree of longitude is as long as one of latitude, then back.
            stretched = shapely.affinity.scale(shapes[index], xfact=scale, yfact=1.0, origin=(0.0, 0.0))
            shapes[index] = shapely.affinity.scale(
                shapely.buffer(stretched, radius, quad_segs=8),
                xfact=1.0 / scale,
                yfact=1.0,
                origin=(0.0, 0.0),
            )
    return shapes


def overlaps(
    truth: NDArray[np.object_], found: NDArray[np.object_]
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """The (detection, reference, IoU) triples with IoU > 0, found through an R-tree."""
    if not len(truth) or not len(found):
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, np.empty(0)
    detection, reference = shapely.STRtree(truth).query(found, predicate="intersects")
    overlap = shapely.area(shapely.intersection(found[detection], truth[reference]))
    union = shapely.area(found[detection]) + shapely.area(truth[reference]) - overlap
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, overlap / union, 0.0)
    keep = iou > 0
    return detection[keep], reference[keep], iou[keep]


def greedy(
    order: Sequence[int],
    candidates: dict[int, list[tuple[int, float]]],
    threshold: float,
    references: int,
    detections: int,
) -> NDArray[np.intp]:
    """COCO's matching: each detection (in ``order``, best score first) takes the unmatched reference of
    highest IoU at or above ``threshold`` (the last of equal ones, as pycocotools does); per detection, the
    reference it took, or -1."""
    bound = min(threshold, 1 - 1e-10)
    taken = np.zeros(references, dtype=bool)
    match = np.full(detections, -1, dtype=np.intp)
    for detection in order:
        best, best_iou = -1, bound
        for reference, iou in candidates.get(detection, ()):
            if taken[reference] or iou < best_iou:
                continue
            best, best_iou = reference, iou
        if best >= 0:
            taken[best] = True
            match[detection] = best
    return match


def _by_detection(
    detection: NDArray[np.intp],
    reference: NDArray[np.intp],
    ious: NDArray[np.float64],
    keep: NDArray[np.bool_],
) -> dict[int, list[tuple[int, float]]]:
    """The kept (reference, IoU) candidates of each detection."""
    found: dict[int, list[tuple[int, float]]] = {}
    for d, r, value in zip(
        detection[keep].tolist(), reference[keep].tolist(), ious[keep].tolist(), strict=True
    ):
        found.setdefault(d, []).append((r, value))
    return found


def precision_at_recalls(
    matched: NDArray[np.bool_], scores: NDArray[np.float64], references: int
) -> NDArray[np.float64]:
    """Precision at COCO's 101 recall points of detections (``matched``, ``scores``) against ``references``:
    made monotone from the right, as COCOeval.accumulate does, and 0 past the last recall reached."""
    order = np.argsort(-scores, kind="mergesort")
    hits = matched[order]
    true_positives = np.cumsum(hits).astype(float)
    recall = true_positives / references
    precision = true_positives / np.arange(1, len(hits) + 1)  # detections so far: never 0
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    sampled = np.zeros(len(RECALL_POINTS))
    positions = np.searchsorted(recall, RECALL_POINTS, side="left")
    valid = positions < len(hits)
    sampled[valid] = precision[positions[valid]]
    return sampled


def average_precision(matched: NDArray[np.bool_], scores: NDArray[np.float64], references: int) -> float:
    """COCO's 101-point interpolated AP."""
    return float(np.mean(precision_at_recalls(matched, scores, references)))


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None or precision + recall == 0:
        return None if precision is None or recall is None else 0.0
    return 2 * precision * recall / (precision + recall)


def compute(
    truth: Shapes, found: Shapes, *, iou: float = 0.5, score: float = 0.5, distance_m: float = 2.0
) -> Metrics:
    """The metrics of ``found`` (detections, with scores) against ``truth`` (reference objects)."""
    assert found.score is not None
    truth_shapes, found_shapes = areal(truth.geometry, distance_m), areal(found.geometry, distance_m)
    detection, reference, ious = overlaps(truth_shapes, found_shapes)
    scores = np.asarray(found.score, dtype=float)
    same_image = np.array(
        [
            found.image[d] == truth.image[r]
            for d, r in zip(detection.tolist(), reference.tolist(), strict=True)
        ],
        dtype=bool,
    )
    same_class = np.array(
        [
            found.label[d] == truth.label[r]
            for d, r in zip(detection.tolist(), reference.tolist(), strict=True)
        ],
        dtype=bool,
    )
    keep = same_image & same_class if len(detection) else np.zeros(0, dtype=bool)
    by_detection: dict[int, list[tuple[int, float]]] = {}
    for d, r, value in zip(
        detection[keep].tolist(), reference[keep].tolist(), ious[keep].tolist(), strict=True
    ):
        by_detection.setdefault(d, []).append((r, value))
    # Detections best first (ties: in their given order, as a stable sort does).
    order = np.argsort(-scores, kind="mergesort").tolist()
    thresholds = sorted({*IOU_THRESHOLDS, round(iou, 6)})
    matched = {t: greedy(order, by_detection, t, len(truth), len(found)) >= 0 for t in thresholds}
    labels_found = np.asarray(found.label, dtype=object)
    labels_truth = np.asarray(truth.label, dtype=object)
    names = sorted({*truth.label, *found.label})
    shown = scores >= score
    classes: dict[str, ClassFigures] = {}
    curves = []
    for name in names:
        mine = labels_found == name
        references = int(np.sum(labels_truth == name))
        ap50 = ap50_95 = None
        if references:
            aps = [average_precision(matched[t][mine], scores[mine], references) for t in IOU_THRESHOLDS]
            ap50, ap50_95 = aps[0], float(np.mean(aps))
            curves.append(precision_at_recalls(matched[0.5][mine], scores[mine], references))
        counted = int(np.sum(mine & shown))
        hits = int(np.sum(matched[round(iou, 6)][mine & shown]))
        precision, recall = _ratio(hits, counted), _ratio(hits, references)
        classes[name] = ClassFigures(
            precision, recall, _f1(precision, recall), ap50, ap50_95, counted, references, hits
        )
    with_references = [figures for figures in classes.values() if figures.labels]
    counted = int(np.sum(shown))
    hits = int(np.sum(matched[round(iou, 6)][shown]))
    precision, recall = _ratio(hits, counted), _ratio(hits, len(truth))
    overall = ClassFigures(
        precision,
        recall,
        _f1(precision, recall),
        float(np.mean([f.ap50 for f in with_references])) if with_references else None,
        float(np.mean([f.ap50_95 for f in with_references])) if with_references else None,
        counted,
        len(truth),
        hits,
    )
    confusion = _confusion(truth, found, detection, reference, ious, same_image, shown, order, iou)
    curve = np.mean(curves, axis=0).tolist() if curves else []
    return Metrics(iou, score, overall, classes, confusion, curve)


def _confusion(
    truth: Shapes,
    found: Shapes,
    detection: NDArray[np.intp],
    reference: NDArray[np.intp],
    ious: NDArray[np.float64],
    same_image: NDArray[np.bool_],
    shown: NDArray[np.bool_],
    order: list[int],
    iou: float,
) -> dict[str, dict[str, int]]:
    """Rows: the reference's class (``none``: a detection that matched nothing); columns: the detection's
    (``none``: a reference nothing matched). Matching regardless of class, best score first."""
    shown_order = [d for d in order if shown[d]]
    match = greedy(
        shown_order, _by_detection(detection, reference, ious, same_image), iou, len(truth), len(found)
    )
    table: dict[str, dict[str, int]] = {}

    def count(row: str, column: str) -> None:
        table.setdefault(row, {}).setdefault(column, 0)
        table[row][column] += 1

    for d in shown_order:
        count(NONE if match[d] < 0 else truth.label[match[d]], found.label[d])
    taken = np.zeros(len(truth), dtype=bool)
    taken[match[match >= 0]] = True
    for r in np.flatnonzero(~taken).tolist():
        count(truth.label[r], NONE)
    return table
