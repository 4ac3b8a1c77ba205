from pathlib import Path

import numpy as np

from research.error_budget import box_gap, box_placement, dataset_groups, matched_faces, oracle_labels, without_false_positives
from training.voc import VOCImage


def test_oracle_labels_take_the_overlapping_faces_class_and_leave_the_rest():
    gt_boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    gt_labels = np.array([2, 1])
    boxes = np.array([[21, 21, 31, 31], [0, 0, 10, 12], [50, 50, 60, 60], [0, 0, 10, 30]], float)
    labels, confident = oracle_labels(gt_boxes, gt_labels, boxes, np.array([0, 0, 0, 0]))
    assert labels.tolist() == [1, 2, 0, 0]
    assert confident.tolist() == [True, True, False, False]
    none, _ = oracle_labels(np.zeros((0, 4)), np.zeros(0, int), boxes, np.array([1, 1, 1, 1]))
    assert none.tolist() == [1, 1, 1, 1]


def test_matched_faces_pair_confident_detections_best_first_one_per_face():
    gt_boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    boxes = np.array([[0, 0, 10, 11], [0, 0, 10, 10], [21, 21, 31, 31], [20, 20, 30, 30], [50, 50, 60, 60]], float)
    scores = np.array([0.6, 0.9, 0.2, 0.5, 0.95])  # 0.2 is under the service's minimum confidence
    found, faces = matched_faces(gt_boxes, boxes, scores)
    assert found.tolist() == [1, 3]
    assert faces.tolist() == [0, 1]
    assert [len(a) for a in matched_faces(np.zeros((0, 4)), boxes, scores)] == [0, 0]


def test_box_gap_reads_accuracy_from_each_crop():
    image = VOCImage(Path("a.jpg"), 40, 40, np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), np.array([2, 0]), "set")
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    served_probs = np.array([[0.1, 0.1, 0.8], [0.1, 0.8, 0.1]])  # second face wrong on the detector's box
    annotated_probs = np.array([[0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    lines = box_gap("t", [image], [(boxes, None, None, served_probs, np.array([0.9, 0.8]))], [annotated_probs])
    assert lines[4].startswith("| detector's box (served) | 2 | 0.500 | 0.000 (1) | nan (0) | 1.000 (1) |")
    assert lines[5].startswith("| annotated box | 2 | 1.000 | 1.000 (1) |")


def test_without_false_positives_keeps_only_detections_on_a_face():
    gt = np.array([[0, 0, 10, 10]], float)
    pred = (np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 20]], float), np.array([0, 1, 2]), np.array([0.9, 0.8, 0.7]))
    boxes, labels, scores = without_false_positives(gt, pred)
    assert boxes.tolist() == [[0, 0, 10, 10], [0, 0, 10, 20]] and labels.tolist() == [0, 2] and scores.tolist() == [0.9, 0.7]
    assert len(without_false_positives(np.zeros((0, 4)), pred)[0]) == 0


def test_without_false_positives_removes_only_the_band_asked_for():
    gt = np.array([[0, 0, 10, 10]], float)
    boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 30]], float)  # IoU 1, 0, 1/3
    pred = (boxes, np.array([0, 1, 2]), np.array([0.9, 0.8, 0.7]))
    assert without_false_positives(gt, pred, (0.0, 0.1))[1].tolist() == [0, 2]
    assert without_false_positives(gt, pred, (0.1, 0.5))[1].tolist() == [0, 1]


def test_box_placement_measures_each_found_face_against_its_best_confident_box():
    image = VOCImage(Path("a.jpg"), 100, 100, np.array([[0, 0, 10, 10], [20, 20, 40, 40], [70, 70, 80, 80]], np.float32), np.array([0, 0, 0]), "set")
    boxes = np.array([[0, 0, 10, 20], [20, 20, 40, 40], [70, 70, 80, 80]], float)  # the third is under the minimum confidence
    lines = box_placement("t", [image], [(boxes, None, None, None, np.array([0.9, 0.8, 0.1]))])
    assert lines[4] == f"| 2 | 0.75 | 0.000 | 0.00 | {np.std([np.log(2), 0]):.2f} |"


def test_dataset_groups_list_all_images_then_each_dataset_in_order_of_appearance():
    images = [VOCImage(Path(f"{i}.jpg"), 10, 10, np.zeros((0, 4), np.float32), np.zeros(0, int), name) for i, name in enumerate("baab")]
    assert dataset_groups(images) == {"all datasets": [0, 1, 2, 3], "b": [0, 3], "a": [1, 2]}
