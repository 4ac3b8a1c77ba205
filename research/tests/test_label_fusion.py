import numpy as np

from research.label_fusion import fuse


def test_fuse_is_a_normalised_geometric_mean():
    detector = np.array([[0.8, 0.1, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    classifier = np.array([[0.2, 0.2, 0.6], [0.1, 0.3, 0.6]])
    fused = fuse(detector, classifier)
    assert np.allclose(fused.sum(1), 1)
    assert np.allclose(fused[1], np.sqrt(classifier[1]) / np.sqrt(classifier[1]).sum())  # a flat detector defers
    assert fused[0].argmax() == 0 and fused[0, 2] > fused[0, 1]
