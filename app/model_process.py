"""The models in a child process with an interpreter lock of its own.

Every torch op releases the GIL and takes it back. In the server's process the event loop and the decode threads
hold it meanwhile, for up to the interpreter's switch interval each time, so a tiny op beside a busy Python
thread waits far longer than it runs (measured: research/results/bench/HISTORY.md, "Models in a child process"). On a GPU, where a
batch is some thousand kernel launches of a few microseconds, that wait can be the batch's cost. A child process launches
them undisturbed; it receives decoded images through a pipe and sends the faces back.

This module imports no metrics: the child is spawned afresh and must not write Prometheus files of its own.
"""
import logging
import multiprocessing
import signal
from multiprocessing.connection import Connection

import numpy as np

from app.settings import Settings
from models.face_pipeline import FacePipeline, Job, shrink
from models.loading import open_pipeline
from models.plan import RuntimePlan

log = logging.getLogger("maskwatch")


class ModelRestarted(Exception):
    """The child died (killed, out of memory) during a batch; a new one was started."""


def load_pipeline(settings: Settings, plan: RuntimePlan) -> FacePipeline:
    """The service's pipeline as `plan` says, warmed for its batch size; call it in the thread that will run it."""
    pipeline = open_pipeline(plan, settings.model_dir, settings.static_shapes, min_confidence=settings.min_confidence,
                             max_faces=settings.max_faces, scale=settings.detector_scale, score_floor=settings.detector_score_floor)
    pipeline.warm_up(plan.batch_size)  # the first requests pay no lazy start-up
    return pipeline


def serve(settings: Settings, plan: RuntimePlan, conn: Connection) -> None:
    """The child: load, report, then answer each list of jobs with `FacePipeline.run`'s result until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server stops this child itself
    try:
        pipeline = load_pipeline(settings, plan)
    except Exception as err:  # sent as text: not every exception survives pickling
        conn.send(RuntimeError(f"loading the models failed: {type(err).__name__}: {err}"))
        return
    conn.send({"info": pipeline.info, "read_size": pipeline.read_size})
    while True:
        try:
            jobs = conn.recv()
        except EOFError:  # the server is gone
            return
        if jobs is None:
            return
        try:
            conn.send(pipeline.run(jobs))
        except Exception as err:
            conn.send(RuntimeError(f"{type(err).__name__}: {err}"))


class ModelProcess:
    """`run(jobs)` in a child process; same `run`, `shrink` and `info` as a `FacePipeline`. One caller at a time."""

    def __init__(self, settings: Settings, plan: RuntimePlan):
        self.args = (settings, plan)
        self._start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # a forked child would inherit the parent's threads and locks
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=serve, args=(*self.args, child_end), name="maskwatch-model", daemon=True)
        self.process.start()
        child_end.close()
        try:
            ready = self.conn.recv()
        except EOFError:
            raise RuntimeError(f"the model process exited while loading (exit code {self._exit_code()})") from None
        if isinstance(ready, Exception):
            raise ready
        self.info, self.read_size = ready["info"], tuple(ready["read_size"])

    def _exit_code(self) -> int | None:
        self.process.join(5)
        return self.process.exitcode

    def shrink(self, rgb: np.ndarray) -> np.ndarray:
        return shrink(rgb, *self.read_size)

    def run(self, jobs: list[Job]) -> tuple[list, dict[str, float]]:
        try:
            self.conn.send(jobs)
            result = self.conn.recv()
        except (EOFError, OSError):
            log.error("the model process stopped (exit code %s); starting a new one", self._exit_code())
            self._start()
            raise ModelRestarted from None
        if isinstance(result, Exception):
            raise result
        return result

    def close(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()
