import numpy as np

from research.closeups import eyes_to_chin, report, widened


def test_box_conventions():
    box = np.array([[100.0, 60.0, 200.0, 210.0]])
    assert eyes_to_chin(box).tolist() == [[100.0, 110.0, 200.0, 210.0]]  # the top third dropped
    assert np.allclose(widened(box), [[92.5, 48.75, 207.5, 221.25]])  # 15% wider and taller, about the centre


def test_report_counts_with_mask_called_incorrect():
    labels = np.array([0, 0, 0, 2])
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.0, 0.8], [0.03, 0.0, 0.97], [0.1, 0.1, 0.8]])
    out = report(labels, probs)
    assert out["with_mask_called_incorrect"] == 2 and out["with_mask_to_incorrect_rate"] == round(2 / 3, 4)
    assert out["error_confidence"] == {"median": 0.885, "over_0.9": 1} and out["acc_mask_worn_incorrectly"] == 1.0
