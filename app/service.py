"""The loaded models and what a request does with them: decode, detect, classify, annotate, summarise."""
import asyncio
import base64
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import cv2
import numpy as np

from app import metrics
from app.batching import MicroBatcher, QueueFull
from app.errors import APIError
from app.imaging import decode_image
from app.model_process import ModelProcess, ModelRestarted, load_pipeline
from app.settings import Settings
from models.annotate import annotate
from models.face_pipeline import Job
from models.labels import CLASSES


def model_threads(copies: int) -> ThreadPoolExecutor:
    """A thread per copy of the models (`Settings.resolved_model_copies`). torch gets one, the only thread that
    ever calls it: a second calling thread gets its own OpenMP team, and two teams spinning on few cores slow CPU
    inference down (measured by `python -m bench.speedups`: research/results/bench/HISTORY.md, "What made the CPU path faster")."""
    return ThreadPoolExecutor(copies, thread_name_prefix="model")


def cpu_pool(settings: Settings) -> ThreadPoolExecutor:
    """Threads for decoding and drawing, one per core: a burst of uploads cannot starve the event loop."""
    return ThreadPoolExecutor(settings.resolved_cpu_threads(), thread_name_prefix="cpu")


class Service:
    """Holds the models and their micro-batcher. Decoding and drawing run in `cpu_pool`; the models run in
    `executor`'s threads, one per copy of the models (`copies`), each batch on a copy no other thread is running,
    or on CUDA (`MASKWATCH_MODEL_PROCESS`) in a child process that one thread hands each batch to.

    Build it inside one of `executor`'s threads (see `model_threads`).
    """

    def __init__(self, settings: Settings, executor: ThreadPoolExecutor, cpu_pool: ThreadPoolExecutor, copies: int = 1):
        self.settings = settings
        self.cpu_pool = cpu_pool
        self.device = settings.resolved_device()
        batch = settings.resolved_batch_size(self.device)
        in_child = settings.resolved_model_process(self.device)
        self.models = ModelProcess(settings, self.device, batch) if in_child else load_pipeline(settings, self.device, batch)
        self.idle: queue.LifoQueue = queue.LifoQueue()  # the copies no thread is running, the last used on top: under
        # light load one copy takes every image and keeps its memory in the caches
        for models in [self.models] + [load_pipeline(settings, self.device, batch) for _ in range(copies - 1)]:
            self.idle.put(models)
        self.batcher = MicroBatcher(self._run_batch, executor, batch, settings.batch_max_wait_ms, settings.max_in_flight, copies)
        metrics.MODEL.labels(**self.model_info).set(1)

    @property
    def model_info(self) -> dict:
        return self.models.info

    def close(self) -> None:
        """Stop the model process, if the models run in one."""
        if isinstance(self.models, ModelProcess):
            self.models.close()

    def prepare(self, data: bytes, boxes: list | None, min_confidence: float | None) -> Job:
        """Decode the upload and check the given boxes (everything that can fail with a 4xx before the model), and
        shrink the image for the detector here, in the decode threads, rather than in the model threads."""
        rgb = decode_image(data, self.settings.max_pixels)
        height, width = rgb.shape[:2]
        if boxes is not None:
            return Job(rgb, check_boxes(boxes, width, height), min_confidence)
        return Job(rgb, None, min_confidence, self.models.shrink(rgb))

    def _run_batch(self, jobs: list[Job]) -> list[tuple[list, dict]]:
        models = self.idle.get()  # never waits: the batcher runs no more batches at once than there are copies
        try:
            faces, timing = models.run(jobs)
        finally:
            self.idle.put(models)
        metrics.BATCH_SIZE.observe(len(jobs))
        for stage, ms in timing.items():
            metrics.STAGE_LATENCY.labels(stage=stage).observe(ms / 1000)
        return [(image_faces, {**timing, "batch_size": len(jobs)}) for image_faces in faces]

    async def run(self, data: bytes, boxes: list | None, min_confidence: float | None,
                  annotate_png: bool, blur: bool = False) -> tuple[dict, bytes | None]:
        """The JSON response and, when asked, the annotated image as PNG bytes (faces blurred with `blur`)."""
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        job = await loop.run_in_executor(self.cpu_pool, self.prepare, data, boxes, min_confidence)
        timing = {"decode": self._stage("decode", start)}
        queued = time.perf_counter()
        try:
            faces, batch = await self.batcher.submit(job)
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
                "summary": summarize(faces, self.settings.uncertain_below), "model": self.model_info,
                "timing_ms": timing, "batch_size": batch_size}, png

    async def analyse_frame(self, rgb: np.ndarray) -> list:
        """A camera frame's faces: the same models and batcher as uploads, in the batcher's background lane, so
        uploads go first. Raises QueueFull or ModelRestarted as `run` would."""
        job = await asyncio.get_running_loop().run_in_executor(self.cpu_pool, lambda: Job(rgb, None, None, self.models.shrink(rgb)))
        faces, _ = await self.batcher.submit(job, background=True)
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


def png_base64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")
