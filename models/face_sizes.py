"""Each face labelled by the classifier for its size.

A classifier trained also on large faces shrunk to a few pixels (`--lowres`) labels the smallest faces far better
than the main classifier, and a classifier reading a 128 px input labels the large faces better; each labels the
other sizes worse (research/results/labels/README.md, "A classifier for the smallest faces" and "A classifier for
the large faces"). So each face goes to the one that labels its size best, by its box's shorter side:
`classifier-small.pt` under `SMALL_FACE_SIDE`, `classifier-large.pt` from `LARGE_FACE_SIDE` up, and
`classifier.pt` between, and for any size whose file is not beside it. In the export they are the .xml files of
the same names.
"""
from collections.abc import Container
from pathlib import Path
from typing import Protocol

import numpy as np

SMALL_FACE_SIDE = 24  # the size bins (training.metrics.SIZE_BINS is made from them); not tuned
LARGE_FACE_SIDE = 48
MAIN_NETWORK = "classifier"
SMALL_NETWORK, LARGE_NETWORK = SIZE_NETWORKS = ("classifier-small", "classifier-large")
BY_SIZE = (SMALL_NETWORK, MAIN_NETWORK, LARGE_NETWORK)  # the network for each `size_index`


class FaceClassifier(Protocol):
    """What `models.mask_classifier.MaskClassifier` and `models.ir_pipeline.IRClassifier` both are."""

    name: str
    classes: tuple[str, ...]

    def crops(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray: ...

    def predict(self, crops: np.ndarray) -> np.ndarray: ...


def size_weights_beside(classifier_weights: str | Path) -> dict[str, Path]:
    """The size classifiers shipped beside these weights, by network name: those whose file is there."""
    beside = {name: Path(classifier_weights).with_name(f"{name}.pt") for name in SIZE_NETWORKS}
    return {name: path for name, path in beside.items() if path.is_file()}


def classifier_name(classifiers: dict[str, FaceClassifier]) -> str:
    """What the service reports as its classifier: each one's name, the main one first, joined by "+"."""
    return "+".join(classifier.name for classifier in classifiers.values())


def size_index(boxes: np.ndarray) -> np.ndarray:
    """Per box (x1, y1, x2, y2): 0 if its shorter side is under `SMALL_FACE_SIDE`, 2 if it is `LARGE_FACE_SIDE` or
    more, else 1."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.digitize(np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), (SMALL_FACE_SIDE, LARGE_FACE_SIDE))


def network_for(boxes: np.ndarray, present: Container[str] = BY_SIZE) -> np.ndarray:
    """Per box: the name of the network for its size; `MAIN_NETWORK` where that one is not among `present`."""
    by_size = np.array([name if name in present else MAIN_NETWORK for name in BY_SIZE])
    return by_size[size_index(boxes)]


def route_probabilities(classifiers: dict[str, FaceClassifier], images: list[np.ndarray], boxes: list[np.ndarray]) -> np.ndarray:
    """Class probabilities of every box of every image, in order, one batch per classifier: `classifiers` holds
    `MAIN_NETWORK`, which also takes the sizes none of the others is given for."""
    routed = [network_for(b, classifiers) for b in boxes]
    order = np.concatenate(routed) if routed else np.zeros(0, str)
    probs = np.zeros((len(order), len(classifiers[MAIN_NETWORK].classes)), np.float32)
    for name, classifier in classifiers.items():
        if (order == name).any():
            crops = [classifier.crops(rgb, b[r == name]) for rgb, b, r in zip(images, boxes, routed)]
            probs[order == name] = classifier.predict(np.concatenate(crops))
    return probs
