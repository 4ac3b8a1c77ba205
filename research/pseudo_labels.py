"""Pseudo-labels: a pretrained face detector's confident faces that no annotation covers, as extra training faces.

    python -m research.pseudo_labels --detector yunet --part train --min-score 0.8 --sheet 96 --out runs/pseudo/yunet_train.json
    python -m training.train_detector --extra-faces runs/pseudo/yunet_train.json ...

Some background faces of the ILC photos are not annotated; training on them as background teaches the
detector to miss real faces. A detection counts as unannotated when it shares under half of its area with
every annotated face and holds under half of each (`research.false_positives.overlap_share`), and is at
least --min-side pixels on its short side (smaller ones are mostly texture). Writes {stem: [[x1, y1, x2, y2], ...]};
with --sheet N, also a contact sheet of N of them drawn at random (seed 0) beside it, to judge them by eye.
"""
import argparse
import json
import random
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from research.detector_baselines import DETECTORS
from research.false_positives import overlap_share, tile
from training.data import add_data_args, load_data
from training.evaluate import select_part
from training.splits import PARTS


def unannotated(boxes: np.ndarray, scores: np.ndarray, annotated: np.ndarray, min_score: float, min_side: float) -> np.ndarray:
    """The confident boxes of at least `min_side` px that no annotated face covers."""
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) if len(boxes) else np.zeros(0)
    keep = (scores >= min_score) & (sides >= min_side) & (overlap_share(boxes, annotated) < 0.5)
    return boxes[keep]


def write_sheet(images: dict, found: dict[str, list], count: int, path: Path) -> None:
    """`count` of the found boxes drawn at random (seed 0), 12 to a row, numbered."""
    boxes = [(stem, box) for stem, stem_boxes in found.items() for box in stem_boxes]
    sample = random.Random(0).sample(boxes, min(count, len(boxes)))
    tiles = [tile(images[stem].load_rgb(), np.array(box), i) for i, (stem, box) in enumerate(sample)]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 12)
    rows = [np.hstack(tiles[i:i + 12]) for i in range(0, len(tiles), 12)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--detector", default="yunet", choices=sorted(DETECTORS))
    parser.add_argument("--upscale", type=float, default=1.0)
    parser.add_argument("--part", choices=PARTS, default="train")
    parser.add_argument("--min-score", type=float, default=0.8)
    parser.add_argument("--min-side", type=float, default=8.0)
    parser.add_argument("--sheet", type=int, default=0, help="also draw this many of the boxes at random on a contact sheet")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    detect = DETECTORS[args.detector](args)
    found, images = {}, {im.stem: im for im in select_part(load_data(parser, args), args.part)}
    for im in tqdm(images.values(), desc=f"{args.detector} pseudo-labels"):
        boxes, scores = detect(im.load_rgb())
        extra = unannotated(np.asarray(boxes).reshape(-1, 4), np.asarray(scores), im.boxes, args.min_score, args.min_side)
        if len(extra):
            found[im.stem] = [[round(float(v), 1) for v in box] for box in extra]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(found, indent=1) + "\n")
    print(f"{sum(map(len, found.values()))} unannotated faces in {len(found)} images: {args.out}")
    if args.sheet and found:
        write_sheet(images, found, args.sheet, Path(args.out).with_suffix(".png"))


if __name__ == "__main__":
    main()
