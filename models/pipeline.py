"""MaskPipeline: detect faces, classify them in one batch, return boxes in the image's own pixels.

It is the one object the service calls: load it once, then call it per decoded image.
"""
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from models.classifier import DEFAULT_WEIGHTS as DEFAULT_CLASSIFIER
from models.classifier import MaskClassifier
from models.detector import detect, load_detector

DEFAULT_DETECTOR = Path(__file__).parent / "weights" / "detector.pt"


@dataclass
class Face:
    box: list[float]
    label: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    detection_score: float = 1.0


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Any decoded image (gray, gray+alpha, RGB, RGBA; 8 or 16 bit) as contiguous uint8 RGB."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels in (1, 2):
        image = np.repeat(image[:, :, :1], 3, axis=2)
    elif channels == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


class MaskPipeline:
    """Detector + classifier, loaded once onto one device."""

    def __init__(self, detector_weights: str | Path = DEFAULT_DETECTOR, classifier_weights: str | Path = DEFAULT_CLASSIFIER,
                 device: str | torch.device = "cpu", min_score: float = 0.3, max_faces: int = 300):
        self.device = torch.device(device)
        self.detector, self.detector_spec, sha = load_detector(detector_weights, self.device)
        self.detector_name = f"fcos_mobilenet_v2@{sha[:12]}"
        self.classifier = MaskClassifier(classifier_weights, self.device)
        self.classes = self.classifier.spec.classes
        self.min_score = min_score
        self.max_faces = max_faces

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face boxes (N, 4) in `rgb`'s pixels and their detection scores, best first."""
        height, width = rgb.shape[:2]
        spec = self.detector_spec
        scale = min(spec.min_size / min(height, width), spec.max_size / max(height, width))
        small = rgb
        if scale < 1:  # shrink big images here, with area averaging, rather than alias inside the model
            small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
        out = detect(self.detector, [small], self.device)[0]
        boxes = out["boxes"].numpy().astype(np.float64)
        boxes[:, [0, 2]] *= width / small.shape[1]
        boxes[:, [1, 3]] *= height / small.shape[0]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        return boxes, out["scores"].numpy().astype(np.float64)

    def faces(self, rgb: np.ndarray, min_score: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Detected boxes and scores at or above `min_score` (default: the pipeline's), capped at `max_faces`."""
        boxes, scores = self.detect(rgb)
        keep = scores >= (self.min_score if min_score is None else min_score)
        return boxes[keep][:self.max_faces], scores[keep][:self.max_faces]

    def classify(self, rgb: np.ndarray, boxes: np.ndarray, det_scores: np.ndarray | None = None) -> list[Face]:
        """Classify `boxes` of an RGB image in one batch; without scores, detection_score is 1."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        det_scores = np.ones(len(boxes)) if det_scores is None else det_scores
        probs = self.classifier.predict_boxes(rgb, boxes)
        return [Face([round(float(v), 2) for v in box], self.classes[int(p.argmax())], float(p.max()),
                     {c: float(v) for c, v in zip(self.classes, p)}, float(s))
                for box, p, s in zip(boxes, probs, det_scores)]

    def __call__(self, image: np.ndarray, boxes: np.ndarray | None = None, min_score: float | None = None) -> list[Face]:
        """Faces of one decoded image; with `boxes`, detection is skipped and exactly those are classified."""
        rgb = to_rgb(image)
        if boxes is not None:
            return self.classify(rgb, boxes)
        return self.classify(rgb, *self.faces(rgb, min_score))
