"""Time detect + classify on typical dataset-sized images (about 400 x 300), median over many runs.

    python -m bench.pipeline [--data VOC_DIR [--part test]] [--runs 100] [--threads N] [--device cpu|cuda] [--backend auto]
    python -m bench.pipeline --model-dir DIR ...     # other weights: DIR holds detector.pt, classifier.pt and openvino/

Images: the test fixtures (dataset photos, 400 px wide), or with --data the images of a VOC folder
(with --part, of that part of the saved image split). Decoding is not timed; the figure is what
`MaskPipeline.__call__` takes, detection and one classifier batch per image.
"""
import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from models.backends import BACKENDS
from models.defaults import WEIGHTS
from models.loading import open_pipeline
from models.plan import resolve_plan
from training.splits import SPLIT_FILES, load_split
from training.voc import read_voc

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "voc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="auto", help="what runs the networks (default: the service's)")
    parser.add_argument("--model-dir", type=Path, default=WEIGHTS, help="weights to time (default: the shipped ones)")
    parser.add_argument("--data", default=FIXTURE, help="VOC folder whose images are used")
    parser.add_argument("--part", choices=("train", "val", "test"), help="only this part of the saved image split")
    args = parser.parse_args()
    pipeline = open_pipeline(resolve_plan(args.device, args.backend, model_dir=args.model_dir, threads=args.threads), args.model_dir)
    pipeline.warm_up()
    voc = read_voc(args.data)
    if args.part:
        wanted = set(load_split(SPLIT_FILES["image"])[args.part])
        voc = [im for im in voc if im.stem in wanted]
    images = [im.load_rgb() for im in voc]
    for image in images[:10]:
        pipeline(image)
    times, faces = [], []
    for i in range(args.runs):
        image = images[i % len(images)]
        start = time.perf_counter()
        found = pipeline(image)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
        faces.append(len(found))
    print(json.dumps({**pipeline.info, "device": args.device,
                      "threads": args.threads, "images": len(images), "median_pixels": int(statistics.median(im.shape[0] * im.shape[1] for im in images)),
                      "mean_faces": round(statistics.mean(faces), 1), "median_ms": round(statistics.median(times), 1),
                      "p90_ms": round(sorted(times)[int(0.9 * len(times))], 1), "cpu": platform.processor() or platform.machine(),
                      "cpu_count": os.cpu_count(), "torch": torch.__version__}, indent=1))


if __name__ == "__main__":
    main()
