"""Time detect + classify on typical dataset-sized images (about 400 x 300), median over many runs.

    python -m bench.pipeline [--runs 100] [--threads N] [--device cpu|cuda]

Images: the test fixtures (real dataset photos, 400 px wide). Decoding is not timed; the figure is
what `MaskPipeline.__call__` takes, detection and one classifier batch per image.
"""
import argparse
import json
import os
import platform
import statistics
import time

import torch

from models.pipeline import MaskPipeline
from training.voc import read_voc

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "voc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipeline = MaskPipeline(device=args.device)
    images = [im.load_rgb() for im in read_voc(FIXTURE)]
    for image in images * 3:
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
    print(json.dumps({"detector": pipeline.detector_name, "classifier": pipeline.classifier.name, "device": args.device,
                      "threads": args.threads, "image_sizes": sorted({f"{im.shape[1]}x{im.shape[0]}" for im in images}),
                      "mean_faces": round(statistics.mean(faces), 1), "median_ms": round(statistics.median(times), 1),
                      "p90_ms": round(sorted(times)[int(0.9 * len(times))], 1), "cpu": platform.processor() or platform.machine(),
                      "cpu_count": os.cpu_count(), "torch": torch.__version__}, indent=1))


if __name__ == "__main__":
    main()
