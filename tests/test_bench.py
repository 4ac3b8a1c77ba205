import json
import os
import time

import cv2
import numpy as np

from bench.__main__ import camera_frames
from bench.load import cpu_seconds
from bench.machine import describe
from bench.profile import batches, markdown, top_ops, wall_ms
from models.pipeline import MaskPipeline
from tests.conftest import VOC_DIR


def test_camera_frames_are_jpegs_of_the_asked_size(voc_images):
    frames = camera_frames([voc_images[0].image_path.read_bytes()], (640, 360))
    assert frames[0][:3] == b"\xff\xd8\xff"
    assert cv2.imdecode(np.frombuffer(frames[0], np.uint8), cv2.IMREAD_COLOR).shape == (360, 640, 3)


def test_profile_reports_where_a_batch_goes_on_the_cpu():
    pipeline = MaskPipeline()
    work = batches(str(VOC_DIR), None, pipeline, 2, 1)
    assert [len(jobs) for jobs in work] == [2] and all(job.small is not None for job in work[0])
    assert wall_ms(pipeline, work) > 0
    ops = top_ops(pipeline, work, 5)
    assert set(ops) == {"host", "totals"} and len(ops["host"]) == 5
    assert ops["host"][0]["host_ms"] >= ops["host"][-1]["host_ms"] > 0
    assert ops["totals"][0]["calls"] > sum(r["calls"] for r in ops["host"])
    report = {"machine": describe("cpu"), "batch": 2, "wall_ms": 1.0, "images_per_s": 2.0, "precision": "fp32", "ops": ops}
    assert "## By self host time" in markdown(report) and json.dumps(report)


def test_camera_lag_p99_from_histogram_deltas():
    from bench.cameras import lag_buckets, p99_from_buckets

    text = "\n".join(f'maskwatch_camera_lag_seconds_bucket{{camera="cam0",le="{le}"}} {n}' for le, n in
                     [("0.1", 10), ("0.5", 10), ("1.0", 10), ("+Inf", 10)])
    before = lag_buckets(text)["cam0"]
    after = {0.1: 10 + 50, 0.5: 10 + 98, 1.0: 10 + 100, float("inf"): 10 + 100}  # 100 new: 50 under 0.1 s, 2 over 0.5 s
    assert p99_from_buckets(before, after) == 0.75  # the 99th of 100 lies halfway through the (0.5, 1] bucket
    assert p99_from_buckets(before, before) is None


def test_cpu_seconds_counts_a_processs_own_work():
    pid, before = os.getpid(), cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # 0.2 s of CPU, whatever else the machine runs
        pass
    assert 0.15 <= cpu_seconds(pid) - before < 5
