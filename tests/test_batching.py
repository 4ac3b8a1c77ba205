import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from app.batching import MicroBatcher, QueueFull
from models.pipeline import Job, MaskPipeline
from tests.conftest import VOC_DIR
from training.voc import read_voc


def run(coro):
    return asyncio.run(coro)


async def with_batcher(fn, coro_fn, max_batch=8, max_wait_ms=5.0, max_queue=100, concurrency=1):
    with ThreadPoolExecutor(concurrency + 1) as executor:  # a thread to spare: the batcher alone bounds the batches
        batcher = MicroBatcher(fn, executor, max_batch, max_wait_ms, max_queue, concurrency)
        batcher.start()
        try:
            return await coro_fn(batcher)
        finally:
            await batcher.stop()


def test_concurrent_requests_are_batched_and_each_gets_its_own_result():
    sizes = []

    def double(items):
        sizes.append(len(items))
        time.sleep(0.02)
        return [2 * x for x in items]

    async def go(batcher):
        return await asyncio.gather(*(batcher.submit(i) for i in range(20)))

    assert run(with_batcher(double, go)) == [2 * i for i in range(20)]
    assert max(sizes) == 8 and sum(sizes) == 20 and len(sizes) < 20


def test_two_batches_run_at_once_with_concurrency_two_and_never_three():
    together = threading.Barrier(2, timeout=5)  # passed only by two batches running at once
    lock, running, most = threading.Lock(), [0], [0]

    def fn(items):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        together.wait()
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return items

    async def go(batcher):
        return await asyncio.gather(*(batcher.submit(i) for i in range(6)))

    assert run(with_batcher(fn, go, max_batch=1, concurrency=2)) == list(range(6))
    assert most[0] == 2


def test_a_failing_batch_fails_its_callers_and_the_batcher_goes_on():
    def fn(items):
        if "bad" in items:
            raise ValueError("boom")
        return items

    async def go(batcher):
        bad = await asyncio.gather(batcher.submit("bad"), batcher.submit("ok"), return_exceptions=True)
        return bad, await batcher.submit("after")

    bad, after = run(with_batcher(fn, go, max_wait_ms=20))
    assert all(isinstance(r, ValueError) for r in bad) and after == "after"


def test_a_full_queue_refuses_at_once():
    release = threading.Event()

    def blocked(items):
        release.wait(5)
        return items

    async def go(batcher):
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)  # the model thread now holds item 0
        waiting = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            await batcher.submit(3)
        release.set()
        return await asyncio.gather(first, *waiting)

    assert run(with_batcher(blocked, go, max_batch=1, max_queue=2)) == [0, 1, 2]


def test_a_cancelled_request_is_dropped_without_harm():
    def fn(items):
        time.sleep(0.02)
        return items

    async def go(batcher):
        gone = asyncio.ensure_future(batcher.submit("gone"))
        await asyncio.sleep(0)
        gone.cancel()
        return await batcher.submit("kept")

    assert run(with_batcher(fn, go)) == "kept"


@pytest.fixture(scope="module")
def pipeline_and_images():
    return MaskPipeline(), [im.load_rgb() for im in read_voc(VOC_DIR)]


def faces_alike(a: list, b: list) -> bool:
    return ([f.label for f in a] == [f.label for f in b] and np.allclose([f.box for f in a], [f.box for f in b], atol=0.01)
            and np.allclose([f.confidence for f in a], [f.confidence for f in b], atol=1e-3))


def test_pipeline_batch_of_same_sized_images_gives_what_each_gives_alone(pipeline_and_images):
    pipeline, images = pipeline_and_images
    similar = [rgb for rgb in images if rgb.shape[0] in (225, 226)]  # all padded to the same size in the detector
    jobs = [Job(rgb) for rgb in similar] + [Job(similar[0], np.array([[10.0, 10, 60, 70]]))]
    batched, timing = pipeline.run(jobs)
    assert len(similar) == 3 and set(timing) == {"detect", "classify"}
    for job, faces in zip(jobs, batched):
        assert faces_alike(faces, pipeline(job.rgb, job.boxes))
    assert len(batched[-1]) == 1 and batched[-1][0].detection_score == 1.0


def test_pipeline_batch_of_mixed_sizes_keeps_every_clear_face(pipeline_and_images):
    pipeline, images = pipeline_and_images
    jobs = [Job(rgb) for rgb in images] + [Job(np.zeros((50, 80, 3), np.uint8))]
    batched, _ = pipeline.run(jobs)  # smaller images are zero-padded to the largest: scores move a little
    assert batched[-1] == []
    for job, faces in zip(jobs, batched):
        for face in pipeline(job.rgb):
            if face.detection_score >= 0.4:
                twin = min(faces, key=lambda f: np.abs(np.subtract(f.box, face.box)).max())
                assert np.abs(np.subtract(twin.box, face.box)).max() < 2 and twin.label == face.label
