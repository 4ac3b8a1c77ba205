"""What a request does with the models: decode, detect, classify, annotate, summarise; and a camera frame's faces."""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import numpy as np

from app import metrics
from app.batching import QueueFull
from app.compliance import photo_summary
from app.errors import APIError
from app.imaging import decode_image, encode_png
from app.model_host import ModelHost
from app.model_process import ModelRestarted
from app.settings import Settings
from models.annotate import annotate
from models.face_pipeline import Job


class Service:
    """What a request does: decode in `cpu_pool`, detect and classify on the model host (app/model_host.py), draw
    in `cpu_pool`, summarise. Camera frames take the same path behind the uploads."""

    def __init__(self, settings: Settings, host: ModelHost, cpu_pool: ThreadPoolExecutor):
        self.settings, self.host, self.cpu_pool = settings, host, cpu_pool

    @property
    def model_info(self) -> dict:
        return self.host.info

    def prepare(self, data: bytes, boxes: list | None, min_confidence: float | None) -> Job:
        """Decode the upload and check the given boxes (everything that can fail with a 4xx before the model), and
        shrink the image for the detector here, in the decode threads, rather than in the model threads."""
        rgb = decode_image(data, self.settings.max_pixels)
        height, width = rgb.shape[:2]
        if boxes is not None:
            return Job(rgb, check_boxes(boxes, width, height), min_confidence)
        return Job(rgb, None, min_confidence, self.host.shrink(rgb))

    async def run(self, data: bytes, boxes: list | None, min_confidence: float | None,
                  annotate_png: bool, blur: bool = False) -> tuple[dict, bytes | None]:
        """The JSON response and, when asked, the annotated image as PNG bytes (faces blurred with `blur`)."""
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        job = await loop.run_in_executor(self.cpu_pool, self.prepare, data, boxes, min_confidence)
        timing = {"decode": self._stage("decode", start)}
        queued = time.perf_counter()
        try:
            faces, batch = await self.host.batcher.submit(job)
        except QueueFull:
            raise APIError(503, "overloaded", "too many images are waiting; retry shortly",
                           headers={"Retry-After": "1"}) from None
        except ModelRestarted:
            raise APIError(503, "model_restarted", "the model process stopped and was restarted; retry",
                           headers={"Retry-After": "1"}) from None
        batch_size = batch.pop("batch_size")
        timing.update(batch)
        timing["queue"] = round(max(0.0, (time.perf_counter() - queued) * 1000 - sum(batch.values())), 2)
        png = None
        if annotate_png:
            stage = time.perf_counter()
            png = await loop.run_in_executor(self.cpu_pool, lambda: encode_png(annotate(job.rgb, faces, blur)))
            timing["annotate"] = self._stage("annotate", stage)
        metrics.IMAGES.inc()
        for face in faces:
            metrics.FACES.labels(label=face.label).inc()
        timing["total"] = round((time.perf_counter() - start) * 1000, 2)
        height, width = job.rgb.shape[:2]
        return {"image": {"width": width, "height": height}, "faces": [asdict(f) for f in faces],
                "summary": photo_summary(faces, self.settings.uncertain_below), "model": self.model_info,
                "timing_ms": timing, "batch_size": batch_size}, png

    async def analyse_frame(self, rgb: np.ndarray) -> list:
        """A camera frame's faces: the same models and batcher as uploads, in the batcher's background lane, so
        uploads go first. Raises QueueFull or ModelRestarted as `run` would."""
        job = await asyncio.get_running_loop().run_in_executor(self.cpu_pool, lambda: Job(rgb, None, None, self.host.shrink(rgb)))
        faces, _ = await self.host.batcher.submit(job, background=True)
        metrics.IMAGES.inc()
        return faces

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
