"""The effect of input scale: one trained detector read at several short sides, on the val part.

    python -m training.experiments.detector_scales --weights runs/detector/detector.pt --out results/detector_scales.md

For each scale: class-agnostic face AP@0.5, recall by face size and the median detection time per
image on this machine (torch threads = cores).
"""
import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from models.detector import load_detector
from models.pipeline import MaskPipeline
from training.data import DEFAULT_DATA
from training.detection_metrics import evaluate_detections
from training.splits import SPLIT_FILES, load_split
from training.voc import read_voc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--weights", default="models/weights/detector.pt")
    parser.add_argument("--part", default="val")
    parser.add_argument("--scales", type=int, nargs="+", default=[256, 320, 384, 448, 512])
    parser.add_argument("--out", default="results/detector_scales.md")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    wanted = set(load_split(SPLIT_FILES["image"])[args.part])
    images = [im for im in read_voc(args.data) if im.stem in wanted]
    rgbs = [im.load_rgb() for im in images]
    pipeline = MaskPipeline(detector_weights=args.weights)
    _, trained, _ = load_detector(args.weights)
    rows = []
    for scale in args.scales:
        pipeline.detector_spec = dataclasses.replace(trained, min_size=scale, max_size=scale * 4 // 3)
        pipeline.detector.transform.min_size = (scale,)
        pipeline.detector.transform.max_size = scale * 4 // 3
        preds, times = [], []
        for rgb in rgbs:
            start = time.perf_counter()
            boxes, scores = pipeline.detect(rgb)
            times.append((time.perf_counter() - start) * 1000)
            preds.append((boxes, np.zeros(len(boxes), int), scores))
        m = evaluate_detections([(im.boxes, np.zeros(len(im.boxes), int)) for im in images], preds, 1)
        size = {k: f"{v['recall']:.3f}" for k, v in m["recall_by_size"].items()}
        rows.append(f"| {scale} x {scale * 4 // 3} | {m['face_ap50']:.4f} | {m['face_recall50']:.4f} | "
                    f"{size['<16px']} | {size['16-32px']} | {size['>32px']} | {statistics.median(times):.1f} |")
        print(rows[-1], flush=True)
    header = ["# Detector input scale (trained at short side 320-448, read at one scale)", "",
              f"Command: `python -m training.experiments.detector_scales --weights {args.weights} --part {args.part}`; "
              f"{len(images)} images of the image split's {args.part} part; time = median detection per image, "
              f"{os.cpu_count()} CPU threads. Recall over all detections with score >= 0.05.", "",
              "| short x long side | face AP@0.5 | recall | recall <16px | recall 16-32px | recall >32px | detect ms |",
              "|---|---|---|---|---|---|---|"]
    Path(args.out).write_text("\n".join(header + rows) + "\n")


if __name__ == "__main__":
    main()
