import cv2
import numpy as np

from research.false_positives import TILE
from research.pseudo_labels import unannotated, write_sheet
from tests.conftest import VOC_DIR
from training.voc import read_voc


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


def test_the_sheet_draws_the_boxes_twelve_to_a_row(tmp_path):
    voc_images = read_voc(VOC_DIR)
    images = {im.stem: im for im in voc_images}
    found = {im.stem: im.boxes.tolist() for im in voc_images}
    write_sheet(images, found, 14, tmp_path / "sheet.png")
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape == (2 * TILE, 12 * TILE, 3)
