"""Contact sheets of the faces where cross-validated predictions and labels disagree most, to look at.

    python -m research.disagreements runs/cv_80:best --out research/results/crossval_recipes/disagreements.png

Top: faces labelled `mask_worn_incorrectly` that the classifier called something else, least confident
first. Bottom: faces labelled otherwise that it called `mask_worn_incorrectly`, most confident first.
Each tile: label -> prediction, P(incorrect), face size in pixels.
"""
import argparse

import cv2
import numpy as np

from research.ensembles import load_member
from training.data import add_data_args, load_data
from training.faces import FaceTable

SHORT = ("with", "without", "incorrect")
TILE, COLUMNS = 112, 10


def tiles(table: FaceTable, idx: np.ndarray, labels: np.ndarray, probs: np.ndarray) -> list[np.ndarray]:
    out = []
    for crop, i, label, p in zip(table.crops(idx, TILE, 0.15), idx, labels, probs):
        x0, y0, x1, y1 = table.boxes[i]
        tile = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
        for k, text in enumerate((f"{SHORT[label]}->{SHORT[p.argmax()]}", f"p={p[2]:.2f} {np.sqrt((x1 - x0) * (y1 - y0)):.0f}px")):
            cv2.putText(tile, text, (3, 12 + 13 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 3)
            cv2.putText(tile, text, (3, 12 + 13 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 255, 255), 1)
        out.append(tile)
    return out


def sheet(title: str, images: list[np.ndarray]) -> np.ndarray:
    images = images + [np.zeros((TILE, TILE, 3), np.uint8)] * (-len(images) % COLUMNS)
    rows = [np.hstack(images[i:i + COLUMNS]) for i in range(0, len(images), COLUMNS)]
    head = np.full((28, TILE * COLUMNS, 3), 255, np.uint8)
    cv2.putText(head, title, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    return np.vstack([head, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("member", help="RUN_DIR:VARIANT of a training.crossval run")
    add_data_args(parser)  # the folders the crossval runs read
    parser.add_argument("--most", type=int, default=40, help="faces per sheet")
    parser.add_argument("--out", required=True, help="PNG file")
    args = parser.parse_args()
    run = load_member(args.member)
    table = FaceTable.from_voc(load_data(parser, args))
    y, p = run["test_labels"], run["test"]
    missed = np.flatnonzero((y == 2) & (p.argmax(1) != 2))
    missed = missed[np.argsort(p[missed, 2])][:args.most]
    claimed = np.flatnonzero((y != 2) & (p.argmax(1) == 2))
    claimed = claimed[np.argsort(-p[claimed, 2])][:args.most]
    top = sheet(f"labelled incorrect, predicted otherwise: {len(missed)} shown of {int(((y == 2) & (p.argmax(1) != 2)).sum())}",
                tiles(table, run["test_idx"][missed], y[missed], p[missed]))
    bottom = sheet(f"labelled otherwise, predicted incorrect: {len(claimed)} shown of {int(((y != 2) & (p.argmax(1) == 2)).sum())}",
                   tiles(table, run["test_idx"][claimed], y[claimed], p[claimed]))
    cv2.imwrite(args.out, np.vstack([top, bottom]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
