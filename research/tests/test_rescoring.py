from pathlib import Path

import numpy as np

from research.rescoring import bootstrap_gain, cross_fitted, features, fit_logistic, principal_components, targets, weighted_box_fusion, yunet_agreement
from training.voc import VOCImage


def test_yunet_agreement_is_the_best_overlapping_yunet_score():
    boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float)
    yunet = (np.array([[0, 0, 10, 11], [1, 0, 11, 10], [0, 0, 30, 30]], float), np.array([0.4, 0.7, 0.9]))  # the third: IoU 0.11
    assert yunet_agreement(boxes, yunet).tolist() == [0.7, 0.0]
    assert yunet_agreement(boxes, (np.zeros((0, 4)), np.zeros(0))).tolist() == [0.0, 0.0]


def test_targets_count_one_true_positive_per_face_best_score_first():
    gt = np.array([[0, 0, 10, 10]], float)
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 11], [40, 40, 50, 50]], float)
    assert targets(gt, boxes, np.array([0.5, 0.9, 0.8])).tolist() == [0, 1, 0]
    assert targets(np.zeros((0, 4)), boxes, np.array([0.5, 0.9, 0.8])).tolist() == [0, 0, 0]


def test_weighted_box_fusion_averages_by_score_and_penalises_a_missing_view():
    one = (np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float), np.array([0.9, 0.6]))
    other = (np.array([[2, 0, 12, 10]], float), np.array([0.3]))
    boxes, scores = weighted_box_fusion([one, other])
    assert np.allclose(boxes[0], [0.5, 0, 10.5, 10]) and np.isclose(scores[0], 0.6)
    assert np.allclose(boxes[1], [50, 50, 60, 60]) and np.isclose(scores[1], 0.3)
    assert weighted_box_fusion([(np.zeros((0, 4)), np.zeros(0))] * 2)[0].shape == (0, 4)


def test_a_fitted_rescorer_ranks_by_the_column_that_separates_the_classes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 1] + 0.3 * rng.normal(size=400) > 0).astype(float)
    w, _ = fit_logistic(x, y)
    assert w[1] > 5 * abs(w[0])
    p = cross_fitted(x, y, np.arange(400) // 4)
    assert ((p > 0.5) == (y == 1)).mean() > 0.9


def test_features_give_one_row_per_detection_with_finite_values():
    image = VOCImage(Path("a.jpg"), 200, 100, np.zeros((0, 4), np.float32), np.zeros(0, int), "set")
    boxes = np.array([[0, 0, 20, 20], [1, 1, 21, 21], [100, 50, 110, 60]], float)
    probs = np.array([[0.9, 0.05, 0.05], [1, 0, 0], [0.4, 0.3, 0.3]])
    rows = features(image, boxes, np.array([0.9, 0.6, 0.2]), probs, np.array([0.8, 0.0, 0.0]))
    assert rows.shape == (3, 11) and np.isfinite(rows).all()
    assert rows[1, 7] > 0.8 and rows[0, 7] == 0  # the second box lies under the first, better-scored one


def test_bootstrap_gain_is_zero_for_the_same_answers_and_positive_for_better_ones():
    images = [VOCImage(Path(f"{i}.jpg"), 100, 100, np.array([[0, 0, 10, 10]], np.float32), np.array([i % 3]), "set") for i in range(6)]
    right = [(np.array([[0, 0, 10, 10]], float), np.array([i % 3]), np.array([0.9])) for i in range(6)]
    wrong = [(np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float), np.array([i % 3] * 2), np.array([0.5, 0.9])) for i in range(6)]  # a false positive first
    assert bootstrap_gain(images, right, right, draws=5) == (0.0, 0.0)
    low, high = bootstrap_gain(images, wrong, right, draws=5)
    assert 0 < low <= high


def test_principal_components_keep_the_widest_directions_first_and_uncorrelated():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3)) * np.array([1.0, 10.0, 0.1])
    projected = principal_components(x, 2)
    assert projected.shape == (500, 2)
    assert projected[:, 0].std() > 5 * projected[:, 1].std()
    assert abs(np.corrcoef(projected.T)[0, 1]) < 1e-6
