"""Time the shipped classifier on 16 faces (crop + normalise + forward), median of many runs.

    python -m bench.classifier [--faces 16] [--runs 200] [--threads N] [--backend auto]

Faces come from a fixture image's ground-truth boxes, repeated to --faces.
"""
import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from models.backends import BACKENDS
from models.defaults import DEFAULT_CLASSIFIER
from models.loading import open_pipeline
from models.plan import resolve_plan
from training.voc import read_voc

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "voc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(DEFAULT_CLASSIFIER), help="classifier weights; the detector and export beside them")
    parser.add_argument("--faces", type=int, default=16)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="auto", help="what runs the network (default: the service's)")
    args = parser.parse_args()
    model_dir = Path(args.weights).parent
    pipeline = open_pipeline(resolve_plan("cpu", args.backend, model_dir=model_dir, threads=args.threads), model_dir)
    classifier = pipeline.classifier
    voc = read_voc(FIXTURE)[0]
    image = voc.load_rgb()
    boxes = np.resize(voc.boxes, (args.faces, 4))
    for _ in range(10):
        classifier.predict_boxes(image, boxes)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        classifier.predict_boxes(image, boxes)
        times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"classifier": classifier.name, "backend": pipeline.info["backend"], "faces": args.faces, "threads": args.threads,
                      "input_size": classifier.crops(image, boxes[:1]).shape[1],
                      "median_ms": round(statistics.median(times), 2), "p90_ms": round(sorted(times)[int(0.9 * len(times))], 2),
                      "cpu": platform.processor() or platform.machine(), "torch": torch.__version__}, indent=1))


if __name__ == "__main__":
    main()
