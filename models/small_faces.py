"""Faces under 24 px labelled by a classifier of their own.

A classifier trained also on large faces shrunk to a few pixels (`--lowres`) labels the smallest faces far better
than the main classifier, and the rest worse
(research/results/labels/README.md, "A classifier for the smallest faces"), so each face goes to the one that
labels its size best: `classifier-small.pt` beside `classifier.pt` (`classifier-small.xml` in the export) takes
the boxes whose shorter side is under `SMALL_FACE_SIDE`. Without that file every face goes to the main classifier.
"""
from pathlib import Path
from typing import Protocol

import numpy as np

SMALL_FACE_SIDE = 24  # the smallest size bin (training.metrics.SIZE_BINS is made from it); not tuned
SMALL_NETWORK = "classifier-small"
SMALL_WEIGHTS = f"{SMALL_NETWORK}.pt"


class FaceClassifier(Protocol):
    """What `models.mask_classifier.MaskClassifier` and `models.ir_pipeline.IRClassifier` both are."""

    name: str
    classes: tuple[str, ...]

    def crops(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray: ...

    def predict(self, crops: np.ndarray) -> np.ndarray: ...


def small_weights_beside(classifier_weights: str | Path) -> Path | None:
    """The small-face classifier shipped beside these weights, if there is one."""
    path = Path(classifier_weights).with_name(SMALL_WEIGHTS)
    return path if path.is_file() else None


def classifier_name(main: FaceClassifier, small: FaceClassifier | None) -> str:
    """What the service reports as its classifier: the main one's name, and the small-face one's after a "+"."""
    return main.name if small is None else f"{main.name}+{small.name}"


def is_small(boxes: np.ndarray) -> np.ndarray:
    """Per box (x1, y1, x2, y2): whether its shorter side is under `SMALL_FACE_SIDE` pixels."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) < SMALL_FACE_SIDE


def route_probabilities(main: FaceClassifier, small: FaceClassifier | None, images: list[np.ndarray],
                        boxes: list[np.ndarray]) -> np.ndarray:
    """Class probabilities of every box of every image, in order: one batch for `main` and, when `small` is given,
    one for `small` with the small boxes."""
    routed = [is_small(b) if small is not None else np.zeros(len(b), bool) for b in boxes]
    order = np.concatenate(routed) if routed else np.zeros(0, bool)
    probs = np.zeros((len(order), len(main.classes)), np.float32)
    for classifier, wanted in ((main, False), (small, True)):
        if (order == wanted).any():
            crops = [classifier.crops(rgb, b[r == wanted]) for rgb, b, r in zip(images, boxes, routed)]
            probs[order == wanted] = classifier.predict(np.concatenate(crops))
    return probs
