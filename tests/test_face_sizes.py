"""Each face goes to the classifier for its size (models/face_sizes.py): which ones, in what order the answers come
back, and an export that says when it lags the weights beside it."""
import json

import numpy as np
import pytest

from models.errors import BackendError
from models.export_format import lags, read_export
from models.face_sizes import network_for, route_probabilities, size_weights_beside


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


def test_a_box_goes_by_its_shorter_side_small_under_24_px_large_from_48_px():
    boxes = np.array([[0, 0, 23.9, 100], [0, 0, 24, 24], [10, 10, 200, 30], [0, 0, 47.9, 60], [0, 0, 48, 48]])
    assert network_for(boxes).tolist() == ["classifier-small", "classifier", "classifier-small", "classifier", "classifier-large"]
    assert network_for(boxes, {"classifier": None, "classifier-large": None}).tolist() == [
        "classifier", "classifier", "classifier", "classifier", "classifier-large"]


def test_each_face_gets_the_answer_of_the_classifier_for_its_size_in_order_one_batch_each():
    main, small, large = FakeClassifier(80, 0), FakeClassifier(96, 2), FakeClassifier(128, 1)
    images = [np.zeros((200, 200, 3), np.uint8)] * 2
    boxes = [np.array([[0, 0, 50, 50], [0, 0, 10, 10]]), np.array([[0, 0, 12, 12], [0, 0, 40, 60], [5, 5, 100, 100]])]
    probs = route_probabilities({"classifier": main, "classifier-small": small, "classifier-large": large}, images, boxes)
    assert probs.argmax(1).tolist() == [1, 2, 2, 0, 1]
    assert main.batches == [1] and small.batches == [2] and large.batches == [2]


def test_the_main_classifier_labels_every_size_that_has_none_of_its_own():
    main = FakeClassifier(80, 1)
    probs = route_probabilities({"classifier": main}, [np.zeros((50, 50, 3), np.uint8)], [np.array([[0, 0, 5, 5], [0, 0, 40, 40], [0, 0, 50, 50]])])
    assert probs.argmax(1).tolist() == [1, 1, 1] and main.batches == [3]
    assert route_probabilities({"classifier": main, "classifier-small": FakeClassifier(96, 2)}, [], []).shape == (0, 3)


def test_the_size_weights_are_the_files_beside_the_classifier(tmp_path):
    assert size_weights_beside(tmp_path / "classifier.pt") == {}
    (tmp_path / "classifier-large.pt").write_bytes(b"weights")
    assert size_weights_beside(tmp_path / "classifier.pt") == {"classifier-large": tmp_path / "classifier-large.pt"}


def write_export(folder, networks: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "export.json").write_text(json.dumps({"format": "maskwatch-openvino/1", **{n: {"sha256": s} for n, s in networks.items()}}))


@pytest.mark.parametrize("network", ["classifier-small", "classifier-large"])
def test_an_export_lags_when_a_size_classifier_is_added_changed_or_removed_beside_it(tmp_path, network):
    from models.digest import sha256_of

    for name in ("detector", "classifier", network):
        (tmp_path / f"{name}.pt").write_bytes(name.encode())
    shas = {name: sha256_of(tmp_path / f"{name}.pt") for name in ("detector", "classifier", network)}
    write_export(tmp_path / "openvino", shas)
    assert read_export(tmp_path / "openvino")[network]["sha256"] == shas[network]
    write_export(tmp_path / "openvino", {n: shas[n] for n in ("detector", "classifier")})  # exported before it was added
    with pytest.raises(BackendError, match=f"exported from another {network}"):
        read_export(tmp_path / "openvino")
    (tmp_path / f"{network}.pt").unlink()
    assert not lags(tmp_path / "openvino", read_export(tmp_path / "openvino"), network)
    write_export(tmp_path / "openvino", shas)  # exported with it, since removed
    assert lags(tmp_path / "openvino", json.loads((tmp_path / "openvino" / "export.json").read_text()), network)
