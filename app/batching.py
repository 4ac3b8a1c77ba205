"""Dynamic micro-batching: concurrent requests share one model call.

Requests wait in a bounded queue. One task takes the first waiting item, gathers more for at most
`max_wait_ms` (or until `max_batch` items), and runs the batch in a model thread, up to `concurrency` batches
at once (one per copy of the models). While the batches run, new requests pile up and form the next one, so the
batch size follows the load by itself.

Camera frames come in a second, background lane: a batch takes them only when no upload is waiting (and fills
up with them), so an upload waits at most for one model call already running to end.
"""
import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class QueueFull(Exception):
    """The batcher's queue is at its bound: the caller should shed the request."""


class MicroBatcher:
    """`await submit(item)` -> that item's result from `fn(items) -> results` (same order, same length)."""

    def __init__(self, fn: Callable[[list], list], executor: ThreadPoolExecutor, max_batch: int, max_wait_ms: float,
                 max_queue: int, concurrency: int = 1):
        self.fn = fn
        self.executor = executor  # a thread per batch that may run at once
        self.free = asyncio.Semaphore(concurrency)
        self.running: set[asyncio.Task] = set()
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue: asyncio.Queue = asyncio.Queue(max_queue)
        self.background: asyncio.Queue = asyncio.Queue(max_queue)
        self.arrived = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self.task is not None:
            for task in (self.task, *self.running):
                task.cancel()
            await asyncio.gather(self.task, *self.running, return_exceptions=True)

    async def submit(self, item: Any, background: bool = False) -> Any:
        """`item`'s result; `background` items (camera frames) run only when no upload is waiting."""
        future = asyncio.get_running_loop().create_future()
        try:
            (self.background if background else self.queue).put_nowait((item, future))
        except asyncio.QueueFull:
            raise QueueFull from None
        self.arrived.set()
        return await future

    def _take(self) -> tuple | None:
        for queue in (self.queue, self.background):
            if not queue.empty():
                return queue.get_nowait()
        return None

    async def _next(self, timeout: float | None = None) -> tuple | None:
        """The next waiting item, uploads first; None if none came within `timeout` seconds."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while (taken := self._take()) is None:
            self.arrived.clear()
            remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if remaining is not None and remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                return None
        return taken

    async def _gather(self) -> list:
        batch = [await self._next()]
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while len(batch) < self.max_batch:
            taken = await self._next(max(0.0, deadline - asyncio.get_running_loop().time()))
            if taken is None:
                break
            batch.append(taken)
        return [(item, future) for item, future in batch if not future.done()]  # drop requests already gone

    async def _loop(self) -> None:
        while True:
            await self.free.acquire()  # a batch is gathered only once a model is free to take it
            batch = await self._gather()
            if not batch:
                self.free.release()
                continue
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

    async def _run(self, batch: list) -> None:
        try:
            results = await asyncio.get_running_loop().run_in_executor(self.executor, self.fn, [item for item, _ in batch])
        except Exception as err:  # the whole batch failed: every caller gets the error
            results = [err] * len(batch)
        finally:
            self.free.release()
        for (_, future), result in zip(batch, results):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
