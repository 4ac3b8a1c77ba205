"""The loaded models and what a request does with them: decode, detect, classify, annotate, summarise."""
import base64
import threading
import time
from dataclasses import asdict

import cv2
import numpy as np
import torch

from app import metrics
from app.errors import APIError
from app.imaging import decode_image
from app.settings import Settings
from models.annotate import annotate
from models.labels import CLASSES
from models.pipeline import MaskPipeline


def pick_device(name: str) -> str:
    if name == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    return name


class Service:
    """Holds the pipeline; `run` is called from worker threads, one model call at a time."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.device = pick_device(settings.device)
        self.pipeline = MaskPipeline(settings.model_dir / "detector.pt", settings.model_dir / "classifier.pt",
                                     self.device, settings.min_confidence, settings.max_faces)
        self.lock = threading.Lock()
        metrics.MODEL.info({"detector": self.pipeline.detector_name, "classifier": self.pipeline.classifier.name,
                            "device": self.device})

    @property
    def model_info(self) -> dict:
        return {"detector": self.pipeline.detector_name, "classifier": self.pipeline.classifier.name, "device": self.device}

    def run(self, data: bytes, boxes: list | None, min_confidence: float | None, annotate_png: bool) -> tuple[dict, np.ndarray | None]:
        """The JSON response and, when asked, the annotated BGR image."""
        timing = {}
        start = time.perf_counter()
        rgb = decode_image(data, self.settings.max_pixels)
        timing["decode"] = self._stage("decode", start)
        height, width = rgb.shape[:2]
        checked = None if boxes is None else check_boxes(boxes, width, height)
        with self.lock:
            found, det_scores = checked, None
            if checked is None:
                t = time.perf_counter()
                found, det_scores = self.pipeline.faces(rgb, min_confidence)
                timing["detect"] = self._stage("detect", t)
            t = time.perf_counter()
            faces = self.pipeline.classify(rgb, found, det_scores)
            timing["classify"] = self._stage("classify", t)
        canvas = None
        if annotate_png:
            t = time.perf_counter()
            canvas = annotate(rgb, faces)
            timing["annotate"] = self._stage("annotate", t)
        metrics.IMAGES.inc()
        for face in faces:
            metrics.FACES.labels(label=face.label).inc()
        timing["total"] = round((time.perf_counter() - start) * 1000, 2)
        return {"image": {"width": width, "height": height}, "faces": [asdict(f) for f in faces],
                "summary": summarize(faces, self.settings.uncertain_below), "model": self.model_info,
                "timing_ms": timing}, canvas

    @staticmethod
    def _stage(name: str, start: float) -> float:
        seconds = time.perf_counter() - start
        metrics.STAGE_LATENCY.labels(stage=name).observe(seconds)
        return round(seconds * 1000, 2)


def check_boxes(boxes: list, width: int, height: int) -> np.ndarray:
    """Clip given boxes to the image; an empty or inverted box is a 422 naming its index."""
    array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    for i, (x1, y1, x2, y2) in enumerate(array):
        if not (x2 > x1 and y2 > y1):
            raise APIError(422, "invalid_faces", f"faces[{i}] is empty or inverted: {[float(v) for v in (x1, y1, x2, y2)]}")
    array[:, [0, 2]] = array[:, [0, 2]].clip(0, width)
    array[:, [1, 3]] = array[:, [1, 3]].clip(0, height)
    empty = np.flatnonzero((array[:, 2] <= array[:, 0]) | (array[:, 3] <= array[:, 1]))
    if len(empty):
        raise APIError(422, "invalid_faces", f"faces[{int(empty[0])}] lies outside the {width}x{height} image")
    return array


def summarize(faces: list, uncertain_below: float) -> dict:
    counts = {c: sum(f.label == c for f in faces) for c in CLASSES}
    uncertain = sum(f.confidence < uncertain_below for f in faces)
    return {"faces": len(faces), **counts, "uncertain": uncertain,
            "compliant": counts["with_mask"] == len(faces) and uncertain == 0}


def encode_png(bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise APIError(500, "encode_failed", "could not encode the annotated image")
    return buf.tobytes()


def png_base64(bgr: np.ndarray) -> str:
    return base64.b64encode(encode_png(bgr)).decode("ascii")
