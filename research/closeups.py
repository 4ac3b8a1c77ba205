"""How often a correctly worn mask is called `mask_worn_incorrectly`, by face size and by box convention.

Classifies ground-truth boxes of the close-up portraits (`../shared/data/closeups-maskedface`, evaluation only:
never trained on) under three box conventions, and the val and test faces of both datasets grouped by their
short side (< 40, 40-120, > 120 px). For each group: per-class accuracy, with_mask -> incorrect count and the
confidence of those errors.

    python -m research.closeups --out research/results/two_datasets/closeups/shipped_classifier.json
    python -m research.closeups --weights runs/cls_x/classifier.pt --out runs/cls_x/closeups.json
    python -m research.closeups --int8 --out research/results/two_datasets/closeups/shipped_int8.json   # as a CPU serves it

`research.closeup_tradeoff` reads the same sets with the logit bias scaled, beside cross-validated accuracy.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from models.labels import CLASSES
from models.mask_classifier import DEFAULT_WEIGHTS, MaskClassifier
from training.data import DEFAULT_DATA, SHARED_DATA
from training.splits import SPLIT_FILES, load_split
from training.voc import read_voc, read_vocs

CLOSEUPS = SHARED_DATA / "closeups-maskedface"
WITH, INCORRECT = CLASSES.index("with_mask"), CLASSES.index("mask_worn_incorrectly")
SIZE_GROUPS = {"small (<40 px)": (0, 40), "medium (40-120 px)": (40, 120), "large (>120 px)": (120, 1e9)}


def eyes_to_chin(boxes: np.ndarray) -> np.ndarray:
    """The box with its top third dropped: the tighter convention of the held-out portraits."""
    out = boxes.copy()
    out[:, 1] = boxes[:, 1] + (boxes[:, 3] - boxes[:, 1]) / 3
    return out


def widened(boxes: np.ndarray, share: float = 0.15) -> np.ndarray:
    """The box grown by `share` of its size, half on each side."""
    wh = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] - wh * share / 2, boxes[:, 2:] + wh * share / 2], axis=1)


CONVENTIONS = {"as annotated": lambda b: b, "eyes to chin": eyes_to_chin, "widened 15%": widened}


def report(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Per-class accuracy and the with_mask -> incorrect errors with their confidences."""
    pred = probs.argmax(1)
    out = {"faces": int(len(labels))}
    for c, name in enumerate(CLASSES):
        rows = labels == c
        out[f"acc_{name}"] = round(float((pred[rows] == c).mean()), 4) if rows.any() else None
        out[f"n_{name}"] = int(rows.sum())
    wrong = (labels == WITH) & (pred == INCORRECT)
    conf = probs[wrong, INCORRECT]
    out["with_mask_called_incorrect"] = int(wrong.sum())
    out["with_mask_to_incorrect_rate"] = round(float(wrong.sum() / max(1, (labels == WITH).sum())), 4)
    out["error_confidence"] = {"median": round(float(np.median(conf)), 3), "over_0.9": int((conf > 0.9).sum())} if len(conf) else None
    return out


def classify(classifier, images: list, convention=lambda b: b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, probabilities and short sides of every face of `images`, boxes redrawn by `convention`."""
    labels, probs, sides = [], [], []
    for im in images:
        if not len(im.labels):
            continue
        rgb = im.load_rgb()
        boxes = convention(im.boxes.astype(np.float64))
        probs.append(classifier.predict_boxes(rgb, boxes))
        labels.append(im.labels)
        sides.append(np.minimum(im.boxes[:, 2] - im.boxes[:, 0], im.boxes[:, 3] - im.boxes[:, 1]))
    return np.concatenate(labels), np.concatenate(probs), np.concatenate(sides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--closeups", default=str(CLOSEUPS))
    parser.add_argument("--bias-scale", type=float, default=1.0, help="read the weights with their logit bias times this")
    parser.add_argument("--int8", action="store_true", help="the shipped export's int8 classifier, which a CPU serves, "
                        "instead of --weights (no --bias-scale)")
    parser.add_argument("--parts", nargs="+", default=["val", "test"], choices=("train", "val", "test"))
    parser.add_argument("--out", required=True, help="JSON report")
    args = parser.parse_args()
    if args.int8:
        from models.ir_pipeline import IRPipeline  # here: it needs openvino

        classifier = IRPipeline(precision="int8").classifier
        name = f"{classifier.name} (int8, openvino-ir)"
    else:
        classifier = MaskClassifier(args.weights)
        classifier.bias = classifier.bias * args.bias_scale
        name = classifier.name
    result = {"weights": name, "bias_scale": args.bias_scale, "closeups": {}, "by_size": {}}
    closeups = read_voc(args.closeups)
    for name, convention in CONVENTIONS.items():
        labels, probs, _ = classify(classifier, closeups, convention)
        result["closeups"][name] = report(labels, probs)
        print("closeups,", name, json.dumps(result["closeups"][name]))
    split = load_split(SPLIT_FILES["image"])
    wanted = {s for p in args.parts for s in split[p]}
    images = [im for im in read_vocs(DEFAULT_DATA) if im.stem in wanted]
    datasets = sorted({im.dataset for im in images})
    for dataset in [*datasets, "pooled"]:
        chosen = [im for im in images if dataset in ("pooled", im.dataset)]
        labels, probs, sides = classify(classifier, chosen)
        for group, (lo, hi) in SIZE_GROUPS.items():
            rows = (sides >= lo) & (sides < hi)
            result["by_size"][f"{dataset}, {group}"] = report(labels[rows], probs[rows])
            print(f"{'+'.join(args.parts)}, {dataset}, {group}", json.dumps(result["by_size"][f"{dataset}, {group}"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
