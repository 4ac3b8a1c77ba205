"""What every pipeline shares, without torch: the image and face types, and `FacePipeline`, which turns a
detector's boxes and a classifier's probabilities into faces.

`models.pipeline.MaskPipeline` (torch, optionally with a CPU runtime for the networks) and
`models.ir_pipeline.IRPipeline` (exported OpenVINO files, no torch) both build on it; `models.loading.open_pipeline`
opens the one the backend needs.
"""
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.face_sizes import route_probabilities


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


def shrink(rgb: np.ndarray, short_side: int, long_side: int) -> np.ndarray:
    """`rgb` brought down to the detector's read size with area averaging (rather than aliased inside the model);
    unchanged when not larger. Safe in any thread: the service runs it beside decoding, so a batch of camera
    frames is not shrunk one by one in the model thread (research/results/bench/HISTORY.md, "Camera frames")."""
    height, width = rgb.shape[:2]
    scale = min(short_side / min(height, width), long_side / max(height, width))
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)


@dataclass
class Job:
    """One image for `FacePipeline.run`: without `boxes` the detector finds the faces, in `small` when given
    (`FacePipeline.shrink` of `rgb`, made in the caller's thread) or else in a shrink made by `run`."""
    rgb: np.ndarray
    boxes: np.ndarray | None = None
    min_confidence: float | None = None
    small: np.ndarray | None = None


class FacePipeline:
    """Detect, keep, classify. A subclass sets `classifier` (with `crops(rgb, boxes)` and `predict(crops)`),
    `classifiers` (it and the size classifiers beside it, by network name: `models.face_sizes`), `classes`, `min_confidence`, `max_faces` and
    `read_size`, and implements `detect_smalls`."""

    classes: tuple[str, ...]
    min_confidence: float
    max_faces: int
    read_size: tuple[int, int]  # the detector's (short side, longest long side)

    def detect_smalls(self, smalls: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per RGB image already at the read size: face boxes (N, 4) in its pixels and their scores, best first."""
        raise NotImplementedError

    def shrink(self, rgb: np.ndarray) -> np.ndarray:
        """`shrink` to this pipeline's read size."""
        return shrink(rgb, *self.read_size)

    def detect_batch(self, images: list[np.ndarray], smalls: list[np.ndarray] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per RGB image: face boxes (N, 4) in its own pixels and their detection scores, best first.

        `smalls`, when given, are the images' `shrink`s."""
        smalls = smalls or [self.shrink(rgb) for rgb in images]
        results = []
        for rgb, small, (boxes, scores) in zip(images, smalls, self.detect_smalls(smalls)):
            height, width = rgb.shape[:2]
            boxes = boxes.astype(np.float64)
            boxes[:, [0, 2]] = (boxes[:, [0, 2]] * (width / small.shape[1])).clip(0, width)
            boxes[:, [1, 3]] = (boxes[:, [1, 3]] * (height / small.shape[0])).clip(0, height)
            results.append((boxes, scores.astype(np.float64)))
        return results

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face boxes (N, 4) in `rgb`'s pixels and their detection scores, best first."""
        return self.detect_batch([rgb])[0]

    def keep(self, boxes: np.ndarray, scores: np.ndarray, min_confidence: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Detections at or above `min_confidence` (default: the pipeline's), capped at `max_faces`."""
        kept = scores >= (self.min_confidence if min_confidence is None else min_confidence)
        return boxes[kept][:self.max_faces], scores[kept][:self.max_faces]

    def probabilities(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> np.ndarray:
        """Class probabilities (N, classes) of the boxes of several RGB images, in order: one batch per classifier,
        each face labelled by the classifier for its size (`models.face_sizes`)."""
        boxes = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes]
        return route_probabilities(self.classifiers, images, boxes)

    def predict_boxes(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """`probabilities` of one image's boxes."""
        return self.probabilities([rgb], [boxes])

    def classify_batch(self, images: list[np.ndarray], boxes: list[np.ndarray],
                       det_scores: list[np.ndarray | None]) -> list[list[Face]]:
        """Classify the boxes of several RGB images in one batch per classifier; without scores, detection_score is 1."""
        boxes = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes]
        probs = self.probabilities(images, boxes)
        faces, start = [], 0
        for image_boxes, scores in zip(boxes, det_scores):
            scores = np.ones(len(image_boxes)) if scores is None else scores
            image_probs = probs[start:start + len(image_boxes)]
            start += len(image_boxes)
            faces.append([Face([round(float(v), 2) for v in box], self.classes[int(p.argmax())], float(p.max()),
                               {c: float(v) for c, v in zip(self.classes, p)}, float(s))
                          for box, p, s in zip(image_boxes, image_probs, scores)])
        return faces

    def run(self, jobs: list[Job]) -> tuple[list[list[Face]], dict[str, float]]:
        """Faces of each job's image: one detector batch for the jobs without boxes, one classifier batch for all.

        Also returns the batch's stage times in ms (detect, classify).
        """
        timing = {}
        boxes = [job.boxes for job in jobs]
        scores: list[np.ndarray | None] = [None] * len(jobs)
        to_detect = [i for i, job in enumerate(jobs) if job.boxes is None]
        if to_detect:
            start = time.perf_counter()
            smalls = [self.shrink(jobs[i].rgb) if jobs[i].small is None else jobs[i].small for i in to_detect]
            found = self.detect_batch([jobs[i].rgb for i in to_detect], smalls)
            for i, (b, s) in zip(to_detect, found):
                boxes[i], scores[i] = self.keep(b, s, jobs[i].min_confidence)
            timing["detect"] = round((time.perf_counter() - start) * 1000, 2)
        start = time.perf_counter()
        faces = self.classify_batch([job.rgb for job in jobs], boxes, scores)
        timing["classify"] = round((time.perf_counter() - start) * 1000, 2)
        return faces, timing

    def __call__(self, image: np.ndarray, boxes: np.ndarray | None = None, min_confidence: float | None = None) -> list[Face]:
        """Faces of one decoded image; with `boxes`, detection is skipped and exactly those are classified."""
        return self.run([Job(to_rgb(image), boxes, min_confidence)])[0][0]
