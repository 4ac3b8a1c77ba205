"""Copies of the networks side by side, in-process: why the service runs two on a CPU, and unpinned.

    python -m research.model_copies --out research/results/bench/cpu/copies/model_copies.json

On the Kaggle test images, each arrangement analyses the images --reps times, the copies each in a thread of
its own and the images shared between them, and reports images/s and the process's CPU time per image (one
copy: one image at a time, so its images/s is the inverse of its time per image). One copy of 2 threads is what
the service ran before; two copies of 2 threads is what it runs now. `pinned` compiles them
with OpenVINO's CPU pinning on, as its LATENCY hint does by default. Arrangements alternate round by round.
"""
import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import openvino

from app.imaging import decode_image
from bench.__main__ import uploads
from bench.load import cpu_seconds
from models.loading import open_pipeline
from models.plan import resolve_plan

ARRANGEMENTS = {"1 copy x 2 threads": (1, 2, False), "2 copies x 2 threads": (2, 2, False),
                "2 copies x 2 threads, pinned": (2, 2, True), "2 copies x 1 thread": (2, 1, False),
                "1 copy x 1 thread": (1, 1, False)}


def open_copies(copies: int, threads: int, pinned: bool) -> list:
    """`copies` int8 pipelines of `threads` threads, their networks compiled with CPU pinning on if `pinned`."""
    compile_model = openvino.Core.compile_model

    def compile_pinned(core, model, device, config):
        return compile_model(core, model, device, {**config, "ENABLE_CPU_PINNING": True})

    with mock.patch.object(openvino.Core, "compile_model", compile_pinned) if pinned else nullcontext():
        pipelines = [open_pipeline(resolve_plan("cpu", "openvino-ir", "int8", threads=threads)) for _ in range(copies)]
        for pipeline in pipelines:
            pipeline.warm_up()
    return pipelines


def images_per_s(pipelines: list, images: list, reps: int) -> tuple[float, float]:
    """Images/s and CPU ms per image, each copy in a thread of its own on its share of the images."""
    work = images * reps
    start, used = time.perf_counter(), cpu_seconds(os.getpid())
    with ThreadPoolExecutor(len(pipelines)) as pool:
        shares = [work[i::len(pipelines)] for i in range(len(pipelines))]
        list(pool.map(lambda pair: [pair[0](rgb) for rgb in pair[1]], zip(pipelines, shares)))
    return len(work) / (time.perf_counter() - start), (cpu_seconds(os.getpid()) - used) * 1000 / len(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/face-mask-detection")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=3, help="passes over the images per arrangement and round")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    images = [decode_image(body, 40_000_000) for body in uploads(args.data, "test")]
    pipelines = {name: open_copies(*arrangement) for name, arrangement in ARRANGEMENTS.items()}
    rows = {name: [] for name in ARRANGEMENTS}
    for r in range(args.rounds):
        for name, copies in pipelines.items():
            rate, cpu_ms = images_per_s(copies, images, args.reps)
            rows[name].append({"images_per_s": round(rate, 1), "cpu_ms_per_image": round(cpu_ms, 1)})
            print(f"round {r + 1}: {name}: {rate:.1f} images/s, {cpu_ms:.1f} ms CPU per image", flush=True)
    Path(args.out).write_text(json.dumps({"images": len(images), "args": vars(args), "rounds": rows}, indent=1))


if __name__ == "__main__":
    main()
