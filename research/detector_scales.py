"""The effect of input scale: one trained detector read at several short sides, on the val part.

    python -m research.detector_scales --weights runs/detector/detector.pt --out research/results/detector/scales_stage1.md
    python -m research.detector_scales --weights runs/detector_512/detector.pt --scales 448 512 544 576 \
        --save-best models/weights/detector.pt      # ship the weights read at the scale with the best val face AP

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

from models.checkpoint import read_weights
from models.detector import FORMAT as DETECTOR_FORMAT
from models.detector import build_detector, load_detector, save_detector
from models.pipeline import MaskPipeline, long_side
from training.data import KAGGLE_DATA
from training.detection_metrics import evaluate_detections
from training.splits import SPLIT_FILES, load_split
from training.voc import read_voc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=KAGGLE_DATA)
    parser.add_argument("--weights", default="models/weights/detector.pt")
    parser.add_argument("--part", default="val")
    parser.add_argument("--scales", type=int, nargs="+", default=[256, 320, 384, 448, 512])
    parser.add_argument("--out", default="runs/detector_scales.md")
    parser.add_argument("--save-best", help="write the detector with the best-AP scale as its inference scale here")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    wanted = set(load_split(SPLIT_FILES["image"])[args.part])
    images = [im for im in read_voc(args.data) if im.stem in wanted]
    rgbs = [im.load_rgb() for im in images]
    pipeline = MaskPipeline(detector_weights=args.weights, score_floor=0.05)  # the floor the detector was trained and chosen with
    _, trained, _ = load_detector(args.weights)
    rows, best = [], (-1.0, None)
    for scale in args.scales:
        pipeline.set_scale(scale)
        preds, times = [], []
        for rgb in rgbs:
            pipeline.detect(rgb)  # the first call at a new shape builds oneDNN kernels: time the second
            start = time.perf_counter()
            boxes, scores = pipeline.detect(rgb)
            times.append((time.perf_counter() - start) * 1000)
            preds.append((boxes, np.zeros(len(boxes), int), scores))
        m = evaluate_detections([(im.boxes, np.zeros(len(im.boxes), int)) for im in images], preds, 1)
        size = {k: f"{v['recall']:.3f}" for k, v in m["recall_by_size"].items()}
        best = max(best, (m["face_ap50"], scale), key=lambda b: b[0])
        rows.append(f"| {scale} x {long_side(scale)} | {m['face_ap50']:.4f} | {m['face_recall50']:.4f} | "
                    f"{size['<16px']} | {size['16-32px']} | {size['>32px']} | {statistics.median(times):.1f} |")
        print(rows[-1], flush=True)
    header = ["# Detector input scale (one trained detector read at several scales)", "",
              f"Command: `python -m research.detector_scales --weights {args.weights} --part {args.part}`; "
              f"{len(images)} images of the image split's {args.part} part; time = median detection per image (warm), "
              f"{os.cpu_count()} CPU threads. Recall over all detections with score >= 0.05.", "",
              "| short x long side | face AP@0.5 | recall | recall <16px | recall 16-32px | recall >32px | detect ms |",
              "|---|---|---|---|---|---|---|"]
    Path(args.out).write_text("\n".join(header + rows) + "\n")
    if args.save_best:
        spec = dataclasses.replace(trained, min_size=best[1], max_size=long_side(best[1]),
                                   meta={**trained.meta, "scale_chosen_on": f"{args.part} face AP@0.5 {best[0]:.4f}"})
        model = build_detector(spec)
        model.load_state_dict(read_weights(args.weights, DETECTOR_FORMAT)[1])
        save_detector(args.save_best, model, spec)
        print(f"wrote {args.save_best} with short side {best[1]}")


if __name__ == "__main__":
    main()
