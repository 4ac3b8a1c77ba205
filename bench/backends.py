"""torch against each CPU runtime in one run, alternated round by round: model-only per stage, then over HTTP.

    python -m bench.backends --data ../shared/data/face-mask-detection --part test \
        --backends torch openvino onnxruntime openvino:bf16 --rounds 5 --out runs/bench/backends

A backend is NAME (fp32), NAME:PRECISION or NAME:PRECISION:dynamic (openvino-ir on its dynamic-shape network only,
not the static ones), then any SETTING=VALUE for its server (`openvino-ir:int8:model_copies=1` sets
MASKWATCH_MODEL_COPIES=1; `model_dir=DIR` runs other weights in both parts). Each round times every backend once on the same images, so
a machine that slows down during the run slows all of them alike.
1. model-only, per image: detect (shrink + detector), classify (one batch of 16 faces of the image, its
   detected boxes repeated), detect + classify (`MaskPipeline.__call__`; decoding not timed);
2. end to end: one uvicorn server per backend, all started first; each round sends --requests uploads at
   each --concurrency to each server in turn. Reported: the median over rounds of each round's p50, images/s and the
   server's CPU time per image (user + system, all its threads: what bounds images/s on a small CPU).
Writes backends.json and backends.md under --out. No timed assertions: it measures.
"""
import argparse
import importlib.metadata
import os
import statistics
import time
from contextlib import ExitStack

import numpy as np
import torch

from app.imaging import decode_image
from bench import load, machine
from bench.__main__ import FIXTURE, ints, uploads
from bench.report import save
from models.backends import BACKENDS, NEEDS, installed
from models.defaults import WEIGHTS
from models.face_pipeline import FacePipeline, to_rgb
from models.loading import open_pipeline
from models.plan import resolve_plan

FACES = 16


def runtime_versions() -> str:
    packages = {package for backend in BACKENDS if installed(backend) for package in NEEDS[backend] if package != "onnx"}
    return ", ".join(f"{name} {importlib.metadata.version(name)}" for name in sorted(packages))


def parse_backend(text: str) -> tuple[str, str, bool, dict[str, str]]:
    """NAME[:PRECISION][:dynamic][:SETTING=VALUE ...] -> (name, precision, static shapes, the server's extra
    environment): `dynamic` runs openvino-ir's one dynamic shape."""
    name, precision, *rest = text.split(":") + [""]
    settings = dict(part.split("=", 1) for part in rest if "=" in part)
    return name, precision or "fp32", "dynamic" not in rest, {f"MASKWATCH_{k.upper()}": v for k, v in settings.items()}


def time_ms(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def model_round(pipeline: FacePipeline, images: list[np.ndarray], times: dict[str, list[float]]) -> None:
    """One pass over `images`, each stage timed per image."""
    for rgb in images:
        times["detect"].append(time_ms(pipeline.detect, rgb))
        boxes, _ = pipeline.detect(rgb)
        boxes = np.resize(boxes, (FACES, 4)) if len(boxes) else np.tile([[0, 0, 40, 40]], (FACES, 1))
        times[f"classify_{FACES}_faces"].append(time_ms(pipeline.classifier.predict_boxes, rgb, boxes))
        times["detect_classify"].append(time_ms(pipeline, rgb))


def model_only(backends: list[str], images: list[np.ndarray], rounds: int) -> dict:
    pipelines = {}
    for b in backends:
        name, precision, static, extra = parse_backend(b)
        model_dir = extra.get("MASKWATCH_MODEL_DIR", WEIGHTS)  # model_dir=DIR: other weights, as the server's setting
        pipelines[b] = open_pipeline(resolve_plan("cpu", name, precision, model_dir), model_dir, static_shapes=static)
        pipelines[b].warm_up()
    times = {b: {"detect": [], f"classify_{FACES}_faces": [], "detect_classify": []} for b in backends}
    for pipeline in pipelines.values():
        model_round(pipeline, images[:5], {k: [] for k in times[backends[0]]})  # warm-up
    for r in range(rounds):
        for b in backends:
            model_round(pipelines[b], images, times[b])
        print(f"  model-only round {r + 1}/{rounds}", flush=True)
    return {b: {stage: {"median_ms": round(statistics.median(t), 2), "p90_ms": round(load.percentile(t, 0.9), 2)}
                for stage, t in stages.items()} for b, stages in times.items()}


def over_http(backends: list[str], bodies: list[bytes], rounds: int, concurrency: list[int], requests: int, port: int) -> dict:
    threads = str(len(os.sched_getaffinity(0)))
    rows: dict[str, dict[int, list[dict]]] = {b: {c: [] for c in concurrency} for b in backends}
    posts = [load.multipart(b) for b in bodies]
    with ExitStack() as stack:
        pool = stack.enter_context(load.client_pool(1))
        bases, pids = {}, {}
        for i, b in enumerate(backends):
            name, precision, static, extra = parse_backend(b)
            env = {"MASKWATCH_BACKEND": name, "MASKWATCH_PRECISION": precision, "MASKWATCH_STATIC_SHAPES": str(static).lower(),
                   "MASKWATCH_TORCH_THREADS": threads, "MASKWATCH_MAX_IN_FLIGHT": "100000", **extra}
            bases[b], proc = stack.enter_context(load.server(port + i, 1, env))
            pids[b] = proc.pid
            load.run_level(pool, bases[b], "/v1/classify", posts, max(concurrency), 2 * max(concurrency), 1)  # warm-up
        for r in range(rounds):
            for b in backends:
                for c in concurrency:
                    used = load.cpu_seconds(pids[b])
                    rows[b][c].append(load.run_level(pool, bases[b], "/v1/classify", posts, c, max(requests, 2 * c), 1))
                    rows[b][c][-1]["server_cpu_ms"] = (load.cpu_seconds(pids[b]) - used) * 1000 / max(requests, 2 * c)
            print(f"  http round {r + 1}/{rounds}", flush=True)
    return {b: {str(c): {"p50_ms": statistics.median(row["p50_ms"] for row in rs),
                         "p95_ms": statistics.median(row["p95_ms"] for row in rs),
                         "images_per_s": statistics.median(row["images_per_s"] for row in rs),
                         "server_cpu_ms_per_image": statistics.median(row["server_cpu_ms"] for row in rs),
                         "statuses": [row["statuses"] for row in rs]} for c, rs in by_c.items()} for b, by_c in rows.items()}


def markdown(report: dict) -> str:
    backends = report["args"]["backends"]
    m = report["machine"]
    lines = [f"Backends on {m['cpu']} ({m['cores']} cores; {report['runtimes']}), {report['images']} images from {report['args']['data']}"
             f" (part {report['args']['part']}), {report['args']['rounds']} alternated rounds.", "",
             "| stage (model-only, median ms per image) | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]
    for stage in report["model"][backends[0]]:
        lines.append(f"| {stage} | " + " | ".join(f"{report['model'][b][stage]['median_ms']:.1f}" for b in backends) + " |")
    if report["http"]:
        lines += ["", "| over HTTP | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]
        for c in report["http"][backends[0]]:
            lines.append(f"| c={c} p50 ms | " + " | ".join(f"{report['http'][b][c]['p50_ms']:.1f}" for b in backends) + " |")
            lines.append(f"| c={c} images/s | " + " | ".join(f"{report['http'][b][c]['images_per_s']:.1f}" for b in backends) + " |")
            lines.append(f"| c={c} server CPU ms per image | " + " | ".join(
                f"{report['http'][b][c]['server_cpu_ms_per_image']:.1f}" for b in backends) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(FIXTURE), help="VOC folder whose images are used")
    parser.add_argument("--part", choices=("train", "val", "test"), help="only this part of the saved image split")
    parser.add_argument("--backends", nargs="+", default=["torch", "openvino", "onnxruntime"], help="NAME, NAME:PRECISION or NAME:PRECISION:dynamic")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=ints, default=[1, 4])
    parser.add_argument("--requests", type=int, default=64, help="uploads per concurrency level per round")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--out", default="runs/bench/backends")
    args = parser.parse_args()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    bodies = uploads(args.data, args.part)
    images = [to_rgb(decode_image(b, 40_000_000)) for b in bodies]
    report = {"machine": machine.describe("cpu"), "runtimes": runtime_versions(), "args": vars(args), "images": len(images)}
    print("model-only:", flush=True)
    report["model"] = model_only(args.backends, images, args.rounds)
    report["http"] = {} if args.skip_http else over_http(args.backends, bodies, args.rounds, args.concurrency, args.requests, args.port)
    save(args.out, "backends", report, markdown(report))


if __name__ == "__main__":
    main()
