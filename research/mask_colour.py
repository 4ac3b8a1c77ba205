"""Is "blue surgical mask" a shortcut to `mask_worn_incorrectly`? For each face, the share of blue pixels in the
lower 60% of its crop (hue 90-130 of OpenCV's 180, saturation >= 50) marks a blue mask (share >= 0.25).
Reports how common blue masks are per class in the train part, how the shipped classifier treats blue and
other with_mask faces of the val and test parts, and a contact sheet of ILC's incorrectly-worn train faces
split by mask colour.

    python -m research.mask_colour --out research/results/two_datasets/closeups/mask_colour
"""
import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from models.labels import CLASSES
from models.mask_classifier import DEFAULT_WEIGHTS, MaskClassifier
from training.data import DEFAULT_DATA
from training.faces import FaceTable
from training.splits import part_indices
from training.voc import read_vocs

BLUE_SHARE = 0.25


def blue_share(crops: np.ndarray) -> np.ndarray:
    """Share of blue pixels in the lower 60% of each RGB crop."""
    lower = crops[:, int(crops.shape[1] * 0.4):]
    hsv = np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2HSV) for c in lower])
    blue = (hsv[..., 0] >= 90) & (hsv[..., 0] <= 130) & (hsv[..., 1] >= 50)
    return blue.reshape(len(crops), -1).mean(1)


def sheet(crops: np.ndarray, columns: int = 12, side: int = 64) -> np.ndarray:
    tiles = [cv2.resize(c, (side, side)) for c in crops] or [np.zeros((side, side, 3), np.uint8)]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    return np.concatenate([np.concatenate(tiles[i:i + columns], 1) for i in range(0, len(tiles), columns)], 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    classifier = MaskClassifier(args.weights)
    size, margin = classifier.spec.input_size, classifier.spec.margin
    table = FaceTable.from_voc(read_vocs(DEFAULT_DATA))
    parts = part_indices(table, "image")
    out, report = Path(args.out), {"blue_share_threshold": BLUE_SHARE, "train": {}, "val_test_with_mask": {}}
    out.mkdir(parents=True, exist_ok=True)
    train = parts["train"]
    crops = table.crops(train, size, margin)
    blue = blue_share(crops) >= BLUE_SHARE
    for dataset in sorted(set(table.datasets[train])):
        for c, name in enumerate(CLASSES):
            rows = (table.datasets[train] == dataset) & (table.labels[train] == c)
            report["train"][f"{dataset}, {name}"] = {"faces": int(rows.sum()), "blue_mask_share": round(float(blue[rows].mean()), 3)}
    ilc_incorrect = (table.datasets[train] == "ilc-face-mask") & (table.labels[train] == CLASSES.index("mask_worn_incorrectly"))
    for colour, chosen in (("blue", ilc_incorrect & blue), ("other", ilc_incorrect & ~blue)):
        cv2.imwrite(str(out / f"ilc_incorrect_train_{colour}.png"), cv2.cvtColor(sheet(crops[chosen][:96]), cv2.COLOR_RGB2BGR))
    held = np.concatenate([parts["val"], parts["test"]])
    held = held[table.labels[held] == CLASSES.index("with_mask")]
    held_crops = table.crops(held, size, margin)
    held_blue = blue_share(held_crops) >= BLUE_SHARE
    probs = classifier.predict(held_crops)
    called_incorrect = probs.argmax(1) == CLASSES.index("mask_worn_incorrectly")
    for colour, chosen in (("blue", held_blue), ("other", ~held_blue)):
        report["val_test_with_mask"][colour] = {"faces": int(chosen.sum()), "called_incorrect": int(called_incorrect[chosen].sum()),
                                                "rate": round(float(called_incorrect[chosen].mean()), 4),
                                                "mean_p_incorrect": round(float(probs[chosen, 2].mean()), 4)}
    (out / "mask_colour.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
