"""MaskPipeline: detect faces, classify them in one batch, return boxes in the image's own pixels, with torch.

It is the object the service calls (or `models.ir_pipeline.IRPipeline` where torch is not installed): load it
once, then call it per decoded image. What both share is in models/face_pipeline.py;
`models.loading.open_pipeline` opens the one a backend needs.
"""
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from models.allocator import keep_freed_memory
from models.backends import BackendError
from models.defaults import DEFAULT_CLASSIFIER, DEFAULT_DETECTOR, DETECTOR_SCALE, MAX_FACES, MIN_CONFIDENCE, SCORE_FLOOR, long_side, pad32
from models.detector import HalfBackbone, detect, load_detector
from models.face_pipeline import Face, FacePipeline, Job, shrink, to_rgb
from models.face_sizes import MAIN_NETWORK, classifier_name, size_weights_beside
from models.mask_classifier import MaskClassifier
from models.runtime import compiler

__all__ = ["DEFAULT_CLASSIFIER", "DEFAULT_DETECTOR", "DETECTOR_SCALE", "MAX_FACES", "MIN_CONFIDENCE", "SCORE_FLOOR", "Face", "Job",
           "MaskPipeline", "long_side", "shrink", "to_rgb"]


class MaskPipeline(FacePipeline):
    """Detector + classifier, loaded once onto one device.

    `backend` runs the networks: torch, or on a CPU a runtime made for it (models/runtime.py); `models.plan.resolve_plan`
    chooses it for the service. `precision`: fp32; fp16 runs the classifier and the detector's backbone in half precision on CUDA
    (fp32 on a CPU); bf16 is OpenVINO's inference precision. `scale` is the detector's read scale (short side in
    pixels; 0 = the one in the weights) and `score_floor` its lowest kept detection score. A backend that cannot
    run here raises `models.backends.BackendError`.
    """

    def __init__(self, detector_weights: str | Path = DEFAULT_DETECTOR, classifier_weights: str | Path = DEFAULT_CLASSIFIER,
                 device: str | torch.device = "cpu", min_confidence: float = MIN_CONFIDENCE, max_faces: int = MAX_FACES,
                 precision: str = "fp32", scale: int = DETECTOR_SCALE, score_floor: float = SCORE_FLOOR, backend: str = "torch"):
        self.device = torch.device(device)
        self.half = precision == "fp16" and self.device.type == "cuda"
        self.precision, self.backend = precision, backend
        if backend == "openvino-ir":
            raise BackendError("backend openvino-ir runs the exported folder: models.loading.open_pipeline picks its pipeline")
        if self.device.type != "cuda":
            keep_freed_memory()  # see models/allocator.py
        self.detector, self.detector_spec, sha = load_detector(detector_weights, self.device)
        self.detector_name = f"fcos_{self.detector_spec.body}@{sha[:12]}"
        self.classifier = MaskClassifier(classifier_weights, self.device, precision, self.backend)
        self.classifiers = {MAIN_NETWORK: self.classifier} | {
            name: MaskClassifier(path, self.device, precision, self.backend) for name, path in size_weights_beside(classifier_weights).items()}
        self.classes = self.classifier.classes
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
            self.detector.transform.size_divisible = pad32(self.detector_spec.max_size)

    def warm_up(self, max_batch: int = 1) -> None:
        """Run every shape the service will meet once (on CUDA: each batch size, each classifier bucket)."""
        blank = np.zeros((300, 400, 3), np.uint8)
        for size in range(1, (max_batch if self.device.type == "cuda" else 1) + 1):
            self.detect_batch([blank] * size)
        for classifier in self.classifiers.values():
            classifier.warm_up()

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
        return {"detector": self.detector_name, "classifier": classifier_name(self.classifiers), "device": str(self.device),
                "backend": self.backend, "precision": self.precision}

    def detect_smalls(self, smalls: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(out["boxes"].numpy(), out["scores"].float().numpy()) for out in detect(self.detector, smalls, self.device)]
