from pathlib import Path

import numpy as np
import pytest

from training.detection_metrics import (
    class_ap50,
    coco_ap,
    evaluate_detections,
    face_ap50,
    ignored,
    match,
    voc_ap,
)
from training.evaluate import detection_report
from training.voc import VOCImage

BOX = np.array([[10, 10, 30, 30]], dtype=float)
FAR = np.array([[100, 100, 120, 120]], dtype=float)


def ap(gts, preds, thr=0.5):
    _, tp, n, _ = match(gts, preds, thr)
    return voc_ap(tp, n)


def test_perfect_detections_score_one():
    gts = [BOX, np.vstack([BOX, FAR])]
    preds = [(BOX, np.array([0.9])), (np.vstack([BOX, FAR]), np.array([0.8, 0.7]))]
    assert ap(gts, preds) == pytest.approx(1.0)


def test_a_higher_scored_false_positive_halves_ap():
    # precision 0/1 then 1/2 at recall 1: the envelope is 0.5 over the whole recall range
    assert ap([BOX], [(np.vstack([FAR, BOX]), np.array([0.9, 0.5]))]) == pytest.approx(0.5)


def test_missed_face_caps_ap_at_recall():
    assert ap([np.vstack([BOX, FAR])], [(BOX, np.array([0.9]))]) == pytest.approx(0.5)


def test_duplicate_detection_is_a_false_positive():
    # TP then FP: AP stays 1 (recall 1 reached at precision 1), but only one match is counted
    scores, tp, n, found = match([BOX], [(np.vstack([BOX, BOX + 1]), np.array([0.9, 0.8]))], 0.5)
    assert tp.tolist() == [True, False] and n == 1 and found[0].all()


def test_iou_threshold_and_coco_points():
    shifted = BOX + np.array([5, 0, 5, 0])  # IoU = 15*20 / (25*20) = 0.6
    assert ap([BOX], [(shifted, np.array([1.0]))], 0.5) == pytest.approx(1.0)
    assert ap([BOX], [(shifted, np.array([1.0]))], 0.7) == pytest.approx(0.0)
    assert coco_ap(np.array([True]), 2) == pytest.approx(51 / 101)


def test_evaluate_detections_per_class_and_sizes():
    gt = [(np.vstack([BOX, FAR, [0, 0, 8, 8]]), np.array([0, 1, 2]))]
    pred = [(np.vstack([BOX, FAR]), np.array([0, 2]), np.array([0.9, 0.8]))]
    m = evaluate_detections(gt, pred, 3, ("a", "b", "c"))
    assert m["ap50"] == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert m["map50"] == pytest.approx(1 / 3)
    assert m["face_ap50"] == pytest.approx(2 / 3) and m["face_recall50"] == pytest.approx(2 / 3)
    assert m["recall_by_size"]["<16px"] == {"faces": 1, "recall": 0.0}
    assert m["recall_by_size"]["16-32px"]["recall"] == 1.0


def test_class_scores_rank_every_box_in_every_class():
    gt = [(np.vstack([BOX, FAR]), np.array([2, 0]))]
    pred = [(np.vstack([BOX, FAR]), np.array([0, 0]), np.array([0.6, 0.9]))]  # the rare face's top label is wrong
    scores = [np.array([[0.6, 0.0, 0.4], [0.9, 0.05, 0.05]])]
    assert evaluate_detections(gt, pred, 3, ("a", "b", "c"))["ap50"]["c"] == 0.0
    by_score = class_ap50(gt, pred, ("a", "b", "c"), scores)
    assert by_score["c"] == 1.0  # ranked first in its own class: found at full precision
    assert by_score["a"] == 1.0 and np.isnan(by_score["b"])


def test_detections_on_ignore_regions_count_neither_way():
    gt = np.array([[0, 0, 10, 10]], float)
    unannotated = np.array([[50, 50, 60, 60]], float)
    preds = np.array([[0, 0, 10, 10], [50, 50, 60, 61], [80, 80, 90, 90], [1, 0, 10, 10]], float)
    assert ignored(gt, unannotated, preds).tolist() == [False, True, False, False]
    assert not ignored(gt, np.zeros((0, 4)), preds).any()


def test_pipeline_face_ap_by_served_score_and_by_detection_score():
    """A false face the classifier is sure of, ranked above a real one: the served ranking pays for it, the
    detector's own does not."""
    image = VOCImage(Path("a.jpg"), 200, 200, BOX.astype(np.float32), np.array([0]), "d")
    probs = np.array([[0.5, 0.3, 0.2], [1.0, 0.0, 0.0]])
    det = np.array([0.9, 0.6])
    pred = (np.vstack([BOX, FAR]), np.array([0, 0]), det * probs.max(1), probs, det)
    report = detection_report([image], [pred])
    assert report["face_ap50"] == pytest.approx(0.5)
    assert report["face_ap50_detector"] == pytest.approx(1.0)
    assert report["per_dataset"]["d"]["face_ap50_detector"] == pytest.approx(1.0)
    assert face_ap50([BOX], [(FAR, np.array([1.0]))]) == 0.0
