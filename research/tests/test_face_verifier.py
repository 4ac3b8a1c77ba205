import numpy as np

from research.face_verifier import stray_rows
from training.faces import FaceTable
from training.splits import SPLIT_FILES, load_split


def test_stray_rows_join_their_image_and_its_part():
    split = load_split(SPLIT_FILES["image"])
    train_stem, val_stem = split["train"][0], split["val"][0]
    images = [np.zeros((20, 20, 3), np.uint8), np.full((20, 20, 3), 255, np.uint8)]
    table = FaceTable(images, np.array([0, 1]), np.array([[0, 0, 5, 5], [0, 0, 5, 5]], np.float32), np.array([0, 0]),
                      [f"{train_stem}#0", f"{val_stem}#0"], [train_stem, val_stem], datasets=np.array(["a", "b"]))
    grown, parts = stray_rows(table, {val_stem: [[1, 1, 9, 9], [2, 2, 8, 8]], train_stem: [[3, 3, 9, 9]]}, label=1)
    assert grown.labels.tolist() == [0, 0, 1, 1, 1]
    assert parts["val"].tolist() == [2, 3] and parts["train"].tolist() == [4] and len(parts["test"]) == 0
    assert grown.datasets.tolist() == ["a", "b", "b", "b", "a"]
    assert grown.boxes[4].tolist() == [3, 3, 9, 9] and grown.crops(parts["val"], 4, 0.0).min() == 255
