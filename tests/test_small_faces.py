"""Faces under 24 px go to the small-face classifier (models/small_faces.py): which ones, in what order the answers
come back, and an export that says when it lags the weights beside it."""
import json

import numpy as np
import pytest

from models.errors import BackendError
from models.export_format import lags, read_export
from models.small_faces import SMALL_FACE_SIDE, is_small, route_probabilities, small_weights_beside


class FakeClassifier:
    """Crops of its own input size; every crop labelled `label`, and each batch remembered."""

    classes = ("with_mask", "without_mask", "mask_worn_incorrectly")

    def __init__(self, size: int, label: int):
        self.size, self.label, self.batches = size, label, []

    def crops(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return np.zeros((len(boxes), self.size, self.size, 3), np.uint8)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        assert crops.shape[1] == self.size
        self.batches.append(len(crops))
        return np.eye(3, dtype=np.float32)[[self.label] * len(crops)]


def test_a_box_is_small_when_its_shorter_side_is_under_24_px():
    boxes = np.array([[0, 0, 23.9, 100], [0, 0, 24, 24], [10, 10, 200, 30]])
    assert is_small(boxes).tolist() == [True, False, True]
    assert SMALL_FACE_SIDE == 24


def test_each_face_gets_the_answer_of_the_classifier_for_its_size_in_order_one_batch_each():
    main, small = FakeClassifier(80, 0), FakeClassifier(96, 2)
    images = [np.zeros((200, 200, 3), np.uint8)] * 2
    boxes = [np.array([[0, 0, 50, 50], [0, 0, 10, 10]]), np.array([[0, 0, 12, 12], [0, 0, 40, 60], [5, 5, 100, 100]])]
    probs = route_probabilities(main, small, images, boxes)
    assert probs.argmax(1).tolist() == [0, 2, 2, 0, 0]
    assert main.batches == [3] and small.batches == [2]


def test_without_a_small_face_classifier_the_main_one_labels_every_face():
    main = FakeClassifier(80, 1)
    probs = route_probabilities(main, None, [np.zeros((50, 50, 3), np.uint8)], [np.array([[0, 0, 5, 5], [0, 0, 40, 40]])])
    assert probs.argmax(1).tolist() == [1, 1] and main.batches == [2]
    assert route_probabilities(main, FakeClassifier(96, 2), [], []).shape == (0, 3)


def test_the_small_face_weights_are_the_file_beside_the_classifier(tmp_path):
    assert small_weights_beside(tmp_path / "classifier.pt") is None
    (tmp_path / "classifier-small.pt").write_bytes(b"weights")
    assert small_weights_beside(tmp_path / "classifier.pt") == tmp_path / "classifier-small.pt"


def write_export(folder, networks: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "export.json").write_text(json.dumps({"format": "maskwatch-openvino/1", **{n: {"sha256": s} for n, s in networks.items()}}))


def test_an_export_lags_when_a_small_face_classifier_is_added_changed_or_removed_beside_it(tmp_path):
    from models.digest import sha256_of

    for name in ("detector", "classifier", "classifier-small"):
        (tmp_path / f"{name}.pt").write_bytes(name.encode())
    shas = {name: sha256_of(tmp_path / f"{name}.pt") for name in ("detector", "classifier", "classifier-small")}
    write_export(tmp_path / "openvino", shas)
    assert read_export(tmp_path / "openvino")["classifier-small"]["sha256"] == shas["classifier-small"]
    write_export(tmp_path / "openvino", {n: shas[n] for n in ("detector", "classifier")})  # exported before it was added
    with pytest.raises(BackendError, match="exported from another classifier-small"):
        read_export(tmp_path / "openvino")
    (tmp_path / "classifier-small.pt").unlink()
    assert not lags(tmp_path / "openvino", read_export(tmp_path / "openvino"), "classifier-small")
    write_export(tmp_path / "openvino", shas)  # exported with it, since removed
    assert lags(tmp_path / "openvino", json.loads((tmp_path / "openvino" / "export.json").read_text()), "classifier-small")
