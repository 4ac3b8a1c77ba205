import numpy as np

from research.error_budget import oracle_labels


def test_oracle_labels_take_the_overlapping_faces_class_and_leave_the_rest():
    gt_boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    gt_labels = np.array([2, 1])
    boxes = np.array([[21, 21, 31, 31], [0, 0, 10, 12], [50, 50, 60, 60], [0, 0, 10, 30]], float)
    labels, confident = oracle_labels(gt_boxes, gt_labels, boxes, np.array([0, 0, 0, 0]))
    assert labels.tolist() == [1, 2, 0, 0]
    assert confident.tolist() == [True, True, False, False]
    none, _ = oracle_labels(np.zeros((0, 4)), np.zeros(0, int), boxes, np.array([1, 1, 1, 1]))
    assert none.tolist() == [1, 1, 1, 1]
