"""Pseudo-labels: a pretrained face detector's confident faces that no annotation covers, as extra training faces.

    python -m research.pseudo_labels --detector yunet --part train --min-score 0.8 --out runs/pseudo/yunet_train.json
    python -m training.train_detector --extra-faces runs/pseudo/yunet_train.json ...

Some background faces of the ILC photos are not annotated; training on them as background teaches the
detector to miss real faces. A detection counts as unannotated when it shares under half of its area with
every annotated face and holds under half of each (`research.false_positives.overlap_share`), and is at
least --min-side pixels on its short side (smaller ones are mostly texture). Writes {stem: [[x1, y1, x2, y2], ...]}.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from research.detector_baselines import DETECTORS
from research.false_positives import overlap_share
from training.data import add_data_args, load_data
from training.evaluate import select_part
from training.splits import PARTS


def unannotated(boxes: np.ndarray, scores: np.ndarray, annotated: np.ndarray, min_score: float, min_side: float) -> np.ndarray:
    """The confident boxes of at least `min_side` px that no annotated face covers."""
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) if len(boxes) else np.zeros(0)
    keep = (scores >= min_score) & (sides >= min_side) & (overlap_share(boxes, annotated) < 0.5)
    return boxes[keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--detector", default="yunet", choices=sorted(DETECTORS))
    parser.add_argument("--upscale", type=float, default=1.0)
    parser.add_argument("--part", choices=PARTS, default="train")
    parser.add_argument("--min-score", type=float, default=0.8)
    parser.add_argument("--min-side", type=float, default=8.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    detect = DETECTORS[args.detector](args)
    found = {}
    for im in tqdm(select_part(load_data(parser, args), args.part), desc=f"{args.detector} pseudo-labels"):
        boxes, scores = detect(im.load_rgb())
        extra = unannotated(np.asarray(boxes).reshape(-1, 4), np.asarray(scores), im.boxes, args.min_score, args.min_side)
        if len(extra):
            found[im.stem] = [[round(float(v), 1) for v in box] for box in extra]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(found, indent=1) + "\n")
    print(f"{sum(map(len, found.values()))} unannotated faces in {len(found)} images: {args.out}")


if __name__ == "__main__":
    main()
