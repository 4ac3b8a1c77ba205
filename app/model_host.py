"""The model host: the copies of the networks, the thread each runs in (or the child process on CUDA), and the
micro-batcher that feeds them. What a request does with the models is app/service.py's."""
import asyncio
import queue
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from app import metrics
from app.batching import MicroBatcher
from app.model_process import ModelProcess, load_pipeline
from app.settings import Settings
from models.face_pipeline import Job
from models.plan import RuntimePlan


class ModelHost:
    """`plan.model_copies` copies of the models, each batch run on a copy no other thread is running, in a thread of
    `executor`: one per copy. torch gets one, the only thread that ever calls it: a second calling thread gets its
    own OpenMP team, and two teams spinning on few cores slow CPU inference down (measured by `python -m
    bench.speedups`: research/results/bench/HISTORY.md, "What made the CPU path faster"). With `plan.model_process`
    the one copy runs in a child process that one thread hands each batch to."""

    def __init__(self, settings: Settings, plan: RuntimePlan):
        self.settings, self.plan = settings, plan
        self.executor = ThreadPoolExecutor(plan.model_copies, thread_name_prefix="model")
        self.idle: queue.LifoQueue = queue.LifoQueue()  # the copies no thread is running, the last used on top: under
        # light load one copy takes every image and keeps its memory in the caches
        self.models = None
        self.batcher = MicroBatcher(self._run_batch, self.executor, plan.batch_size, settings.batch_max_wait_ms,
                                    settings.max_in_flight, plan.model_copies)

    async def load(self) -> None:
        """Load every copy in a model thread (torch's one), then start the batcher."""
        await asyncio.get_running_loop().run_in_executor(self.executor, self._load)
        self.batcher.start()
        metrics.MODEL.labels(**self.info).set(1)

    def _load(self) -> None:
        self.models = ModelProcess(self.settings, self.plan) if self.plan.model_process else load_pipeline(self.settings, self.plan)
        self.idle.put(self.models)
        for _ in range(self.plan.model_copies - 1):
            self.idle.put(load_pipeline(self.settings, self.plan))

    @property
    def info(self) -> dict:
        return self.models.info

    def shrink(self, rgb: np.ndarray) -> np.ndarray:
        """`rgb` shrunk to the detector's read size (the same for every copy)."""
        return self.models.shrink(rgb)

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

    async def close(self) -> None:
        """Stop the batcher, the model process if there is one, and the model threads."""
        await self.batcher.stop()
        if isinstance(self.models, ModelProcess):
            await asyncio.to_thread(self.models.close)
        self.executor.shutdown(wait=False, cancel_futures=True)
