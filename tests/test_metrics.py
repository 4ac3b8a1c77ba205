import numpy as np
import pytest
import torch

from training.classifier_engine import class_weights
from training.metrics import (
    aca,
    calibrate,
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    per_class_accuracy,
    per_dataset,
)


def test_class_weights_follow_the_paper_formula():
    labels = np.array([0] * 2551 + [1] * 608 + [2] * 98)
    w = class_weights(labels, "inverse")
    torch.testing.assert_close(w, torch.tensor([98 / 2551, 98 / 608, 1.0]))
    torch.testing.assert_close(class_weights(labels, "sqrt"), w.sqrt())
    torch.testing.assert_close(class_weights(labels, "none"), torch.ones(3))


def test_aca_on_a_known_confusion_matrix():
    cm = np.array([[90, 5, 5], [10, 30, 0], [3, 3, 4]])
    np.testing.assert_allclose(per_class_accuracy(cm), [0.9, 0.75, 0.4])
    assert aca(cm) == pytest.approx((0.9 + 0.75 + 0.4) / 3)
    y_true, y_pred = [0, 0, 1, 2, 2], [0, 1, 1, 2, 0]
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred), [[1, 1, 0], [0, 1, 0], [1, 0, 1]])


def test_ece_is_zero_when_calibrated_and_large_when_overconfident():
    y = np.array([0, 0, 0, 1])
    calibrated = np.tile([0.75, 0.25, 0.0], (4, 1))
    assert expected_calibration_error(calibrated, y) == pytest.approx(0.0)
    overconfident = np.tile([0.99, 0.01, 0.0], (4, 1))
    assert expected_calibration_error(overconfident, y) == pytest.approx(0.24)


def test_temperature_recovers_a_known_scale():
    gen = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 3, generator=gen) * 2
    y = torch.multinomial(true_logits.softmax(1), 1, generator=gen).squeeze(1)
    assert fit_temperature((true_logits * 3).numpy(), y.numpy()) == pytest.approx(3.0, rel=0.1)


def test_logit_bias_is_off_by_default_and_favours_rare_classes_when_asked():
    rng = np.random.default_rng(0)
    y = np.array([0] * 900 + [2] * 100)
    logits = np.zeros((1000, 3))
    logits[:, 0] = 1.0
    logits[y == 2, 2] = 0.5 + rng.normal(0, 0.3, 100)
    t, bias = calibrate(logits, y, y)
    assert np.all(bias == 0)
    t, bias = calibrate(logits, y, y, logit_bias=True)
    assert bias[2] > bias[0]
    assert aca(confusion_matrix(y, (logits / t + bias).argmax(1))) > aca(confusion_matrix(y, logits.argmax(1)))


def test_per_dataset_summaries_split_the_faces_by_their_folder():
    y = np.array([0, 1, 2, 0, 1])
    probs = np.eye(3)[[0, 1, 2, 1, 1]]
    report = per_dataset(y, probs, np.array(["b", "b", "b", "a", "a"]))
    assert list(report) == ["b", "a"]
    assert report["b"]["aca"] == 1.0 and report["a"]["n"] == 2 and report["a"]["acc_with_mask"] == 0.0
