"""MaskPipeline: detect faces, classify them in one batch, return boxes in the image's own pixels.

It is the one object the service calls: load it once, then call it per decoded image.
"""
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from models.allocator import keep_freed_memory
from models.detector import HalfBackbone, detect, load_detector
from models.mask_classifier import DEFAULT_WEIGHTS as DEFAULT_CLASSIFIER
from models.mask_classifier import MaskClassifier
from models.runtime import compiler, effective_precision, resolve_backend

DEFAULT_DETECTOR = Path(__file__).parent / "weights" / "detector.pt"

# What is served by default. The service's settings (app/settings.py), `python -m models.classify` and
# `training.evaluate --pipeline` all start from these, so they give the same faces for the same image.
MIN_CONFIDENCE = 0.3  # lowest detection score returned
MAX_FACES = 100  # most faces returned per image
DETECTOR_SCALE = 528  # short side the detector reads at; 0 = the weights' own (BENCHMARKS.md, "Read scale")
SCORE_FLOOR = 0.1  # detections under it are dropped before NMS, which makes NMS shorter (BENCHMARKS.md)


def long_side(short_side: int) -> int:
    """The longest long side the detector reads an image at, for a short side: 4/3 of it (a 4:3 frame fits whole)."""
    return short_side * 4 // 3


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
    frames is not shrunk one by one in the model thread (BENCHMARKS.md, "Camera frames")."""
    height, width = rgb.shape[:2]
    scale = min(short_side / min(height, width), long_side / max(height, width))
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)


@dataclass
class Job:
    """One image for `MaskPipeline.run`: without `boxes` the detector finds the faces, in `small` when given
    (`MaskPipeline.shrink` of `rgb`, made in the caller's thread) or else in a shrink made by `run`."""
    rgb: np.ndarray
    boxes: np.ndarray | None = None
    min_confidence: float | None = None
    small: np.ndarray | None = None


class MaskPipeline:
    """Detector + classifier, loaded once onto one device.

    `backend` runs the networks: torch, or on a CPU a runtime made for it (models/runtime.py; auto = the fastest
    installed). `precision`: fp32; fp16 runs the classifier and the detector's backbone in half precision on CUDA
    (fp32 on a CPU); bf16 is OpenVINO's inference precision. `scale` is the detector's read scale (short side in
    pixels; 0 = the one in the weights) and `score_floor` its lowest kept detection score. A backend that cannot
    run here raises `models.runtime.BackendError`.
    """

    def __init__(self, detector_weights: str | Path = DEFAULT_DETECTOR, classifier_weights: str | Path = DEFAULT_CLASSIFIER,
                 device: str | torch.device = "cpu", min_confidence: float = MIN_CONFIDENCE, max_faces: int = MAX_FACES,
                 precision: str = "fp32", scale: int = DETECTOR_SCALE, score_floor: float = SCORE_FLOOR, backend: str = "torch"):
        self.device = torch.device(device)
        self.half = precision == "fp16" and self.device.type == "cuda"
        self.precision = effective_precision(precision, self.device.type)
        self.backend = resolve_backend(backend, self.device.type, precision)
        if self.device.type != "cuda":
            keep_freed_memory()  # see models/allocator.py
        self.detector, self.detector_spec, sha = load_detector(detector_weights, self.device)
        self.detector_name = f"fcos_{self.detector_spec.body}@{sha[:12]}"
        self.classifier = MaskClassifier(classifier_weights, self.device, precision, self.backend)
        self.classes = self.classifier.spec.classes
        self.min_confidence = min_confidence
        self.max_faces = max_faces
        if self.half:
            self.detector.backbone = HalfBackbone(self.detector.backbone)
        if scale:
            self.set_scale(scale)
        if self.backend != "torch":  # after the scale: the export's example has the read size
            self.detector.use_runtime(compiler(self.backend, self.precision), self.read_size)
        self.detector.score_thresh = score_floor
        self._fix_canvas()

    def _fix_canvas(self) -> None:
        """On CUDA, pad every detector input to one square canvas: cuDNN builds its kernels per input shape, which
        took seconds for each new image size on an H200; a fixed canvas leaves one shape per batch size."""
        if self.device.type == "cuda":
            self.detector.transform.size_divisible = -(-self.detector_spec.max_size // 32) * 32

    def warm_up(self, max_batch: int = 1) -> None:
        """Run every shape the service will meet once (on CUDA: each batch size, each classifier bucket)."""
        blank = np.zeros((300, 400, 3), np.uint8)
        for size in range(1, (max_batch if self.device.type == "cuda" else 1) + 1):
            self.detect_batch([blank] * size)
        self.classifier.warm_up()

    def set_scale(self, short_side: int) -> None:
        """Read images at this short side (long side at most 4/3 of it) instead of the scale in the weights."""
        self.detector_spec = replace(self.detector_spec, min_size=short_side, max_size=long_side(short_side))
        self.detector.transform.min_size = (short_side,)
        self.detector.transform.max_size = long_side(short_side)
        self._fix_canvas()

    @property
    def read_size(self) -> tuple[int, int]:
        """The detector's read size: (short side, longest long side)."""
        return self.detector_spec.min_size, self.detector_spec.max_size

    @property
    def info(self) -> dict[str, str]:
        """What the service reports as its model: weights, device, backend, precision."""
        return {"detector": self.detector_name, "classifier": self.classifier.name, "device": str(self.device),
                "backend": self.backend, "precision": self.precision}

    def shrink(self, rgb: np.ndarray) -> np.ndarray:
        """`shrink` to this pipeline's read size."""
        return shrink(rgb, *self.read_size)

    def detect_batch(self, images: list[np.ndarray], smalls: list[np.ndarray] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per RGB image: face boxes (N, 4) in its own pixels and their detection scores, best first.

        `smalls`, when given, are the images' `shrink`s."""
        smalls = smalls or [self.shrink(rgb) for rgb in images]
        outputs = detect(self.detector, smalls, self.device)
        results = []
        for rgb, small, out in zip(images, smalls, outputs):
            height, width = rgb.shape[:2]
            boxes = out["boxes"].numpy().astype(np.float64)
            boxes[:, [0, 2]] = (boxes[:, [0, 2]] * (width / small.shape[1])).clip(0, width)
            boxes[:, [1, 3]] = (boxes[:, [1, 3]] * (height / small.shape[0])).clip(0, height)
            results.append((boxes, out["scores"].float().numpy().astype(np.float64)))
        return results

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face boxes (N, 4) in `rgb`'s pixels and their detection scores, best first."""
        return self.detect_batch([rgb])[0]

    def keep(self, boxes: np.ndarray, scores: np.ndarray, min_confidence: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Detections at or above `min_confidence` (default: the pipeline's), capped at `max_faces`."""
        kept = scores >= (self.min_confidence if min_confidence is None else min_confidence)
        return boxes[kept][:self.max_faces], scores[kept][:self.max_faces]

    def classify_batch(self, images: list[np.ndarray], boxes: list[np.ndarray],
                       det_scores: list[np.ndarray | None]) -> list[list[Face]]:
        """Classify the boxes of several RGB images in one classifier batch; without scores, detection_score is 1."""
        boxes = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes]
        crops = [self.classifier.crops(rgb, b) for rgb, b in zip(images, boxes)]
        probs = self.classifier.predict(np.concatenate(crops)) if crops else None
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
