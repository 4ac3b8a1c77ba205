import numpy as np

from research.detector_crops import copies_of, with_detector_rows
from training.faces import FaceTable


def test_detector_rows_copy_the_label_and_crop_from_the_detector_box():
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, 20:] = 255  # left half black, right half white
    table = FaceTable([image], np.array([0, 0]), np.array([[0, 0, 10, 10], [5, 5, 15, 15]], np.float32),
                      np.array([2, 0]), ["a#0", "a#1"], ["a"], datasets=np.array(["d", "d"]))
    grown, extra, source = with_detector_rows(table, {"a#1": [25, 25, 35, 35]})
    assert extra.tolist() == [2] and source.tolist() == [1]
    assert grown.labels.tolist() == [2, 0, 0] and grown.ids[2] == "a#1@detector"
    assert grown.crops(extra, 8, 0.0).min() == 255 and grown.crops(np.array([1]), 8, 0.0).max() == 0
    assert copies_of(np.array([1]), extra, source).tolist() == [2]
    assert copies_of(np.array([0]), extra, source).tolist() == []  # a part's other faces bring no copies
