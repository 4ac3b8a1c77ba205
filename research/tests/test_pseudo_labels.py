import numpy as np

from research.pseudo_labels import unannotated


def test_only_confident_big_enough_unannotated_boxes_are_kept():
    annotated = np.array([[0, 0, 20, 20]], float)
    boxes = np.array([[1, 1, 19, 19],      # the annotated face again
                      [50, 50, 70, 70],    # a face nobody annotated
                      [80, 80, 84, 84],    # too small
                      [100, 0, 120, 20]],  # not confident
                     float)
    scores = np.array([0.99, 0.9, 0.95, 0.5])
    assert unannotated(boxes, scores, annotated, min_score=0.8, min_side=8).tolist() == [[50, 50, 70, 70]]
    assert unannotated(np.zeros((0, 4)), np.zeros(0), annotated, 0.8, 8).shape == (0, 4)
