"""MaskWatch benchmark: model-only stage times per batch size, then HTTP load against a real server.

    python -m bench [--data VOC_DIR [--part test]] [--frames WxH] [--device cpu|cuda] [--workers 1] [--out runs/bench/NAME]

1. model-only: decode, detect, classify, annotate per batch size (--batch-sizes), on --device;
2. end to end: uvicorn (--workers processes) serving the real app, --requests uploads of the dataset's
   images at each --concurrency, latency p50/p95/p99, images/s, /healthz latency under that load;
3. the same load on /v1/null (upload parsed and decoded, no model): MaskWatch's share of the HTTP ceiling.
Writes bench.json and bench.md under --out and prints the table. No timed assertions: it measures.
"""
import argparse
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from app.settings import Settings
from bench import load, machine, stages
from bench.report import markdown, save
from models.pipeline import MaskPipeline
from training.splits import SPLIT_FILES, load_split
from training.voc import read_voc

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "voc"


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def uploads(data: str, part: str | None) -> list[bytes]:
    images = read_voc(data)
    if part:
        wanted = set(load_split(SPLIT_FILES["image"])[part])
        images = [im for im in images if im.stem in wanted]
    return [im.image_path.read_bytes() for im in images]


def size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    if width < 1 or height < 1:
        raise ValueError(text)
    return width, height


def camera_frames(bodies: list[bytes], frame: tuple[int, int]) -> list[bytes]:
    """Each image stretched to `frame` (width, height) and saved as a quality-90 JPEG: uploads the size of a
    camera's frames, with the dataset's faces in them (enlarged, so softer than a real camera's)."""
    frames = []
    for data in bodies:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        _, jpeg = cv2.imencode(".jpg", cv2.resize(bgr, frame, interpolation=cv2.INTER_CUBIC), [cv2.IMWRITE_JPEG_QUALITY, 90])
        frames.append(jpeg.tobytes())
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(FIXTURE), help="VOC folder whose images are uploaded")
    parser.add_argument("--part", choices=("train", "val", "test"), help="only this part of the saved image split")
    parser.add_argument("--frames", type=size, metavar="WxH", help="upload each image as a JPEG frame of this size "
                        "(e.g. 1920x1080) instead of the dataset's own file")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32")
    parser.add_argument("--batch-sizes", type=ints, default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--repeats", type=int, default=5, help="least model-only batches per batch size (mean)")
    parser.add_argument("--concurrency", type=ints, default=[1, 4, 16, 64])
    parser.add_argument("--requests", type=int, default=256, help="uploads per concurrency level")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--clients", type=int, default=1, help="load-generator processes")
    parser.add_argument("--batch-max-size", type=int, default=0, help="0 = the service default (16 on CUDA, 1 on CPU)")
    parser.add_argument("--batch-max-wait-ms", type=float, default=2.0)
    parser.add_argument("--model-process", choices=("auto", "on", "off"), default="auto",
                        help="the models in a child process of each worker (on), in a thread (off), or the service default")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--skip-model", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--out", default="runs/bench/latest")
    args = parser.parse_args()

    bodies = uploads(args.data, args.part)
    if args.frames:
        bodies = camera_frames(bodies, args.frames)
    report = {"machine": machine.describe(args.device), "args": {k: v for k, v in vars(args).items()},
              "images": len(bodies), "model": [], "http": []}
    if not args.skip_model:
        print(f"model-only on {args.device} ({args.precision}):", flush=True)
        served = Settings()  # read at the service's scale and score floor
        pipeline = MaskPipeline(device=args.device, precision=args.precision, scale=served.detector_scale,
                                score_floor=served.detector_score_floor)
        report["model"] = stages.time_stages(pipeline, bodies, args.batch_sizes, args.repeats)
        del pipeline
        torch.cuda.empty_cache()
    if not args.skip_http:
        threads = max(1, len(os.sched_getaffinity(0)) // args.workers)
        env = {"MASKWATCH_DEVICE": args.device, "MASKWATCH_PRECISION": args.precision, "MASKWATCH_NULL_ENDPOINT": "1",
               "MASKWATCH_TORCH_THREADS": str(threads), "MASKWATCH_BATCH_MAX_SIZE": str(args.batch_max_size),
               "MASKWATCH_BATCH_MAX_WAIT_MS": str(args.batch_max_wait_ms), "MASKWATCH_MAX_IN_FLIGHT": "100000"}
        if args.model_process != "auto":
            env["MASKWATCH_MODEL_PROCESS"] = str(args.model_process == "on").lower()
        posts = [load.multipart(b) for b in bodies]
        with load.server(args.port, args.workers, env) as (base, _), load.client_pool(args.clients) as pool:
            for route in ("/v1/classify", "/v1/null"):
                load.run_level(pool, base, route, posts, max(args.concurrency), 2 * max(args.concurrency), args.clients)  # warm-up
                for concurrency in args.concurrency:
                    row = load.run_level(pool, base, route, posts, concurrency, max(args.requests, 2 * concurrency), args.clients)
                    report["http"].append(row)
                    print(f"  {route} c={concurrency}: {row}", flush=True)
    save(args.out, "bench", report, markdown(report))


if __name__ == "__main__":
    main()
