"""Is a second look at each detection worth a class? A face / not-a-face verifier on the classifier's crops.

On the val part, dropping every detection that is on no annotated face would raise the pipeline's mAP@0.5
from 0.824 to 0.868 (an oracle). This measures how much of that a learned verifier gets: the classifier's
network and recipe trained on the train part's annotated faces (label 0) against the shipped detector's
detections there that overlap no annotated face (label 1, IoU < 0.3; `research.detector_crops boxes`).
Each detection's served score (detection x class confidence) is then multiplied by the verifier's face
probability; the labels stay the shipped classifier's.

    python -m research.face_verifier train --boxes runs/detector_crops/all_boxes_v2.json --epochs 8 --keep last --out runs/verifier
    python -m research.face_verifier evaluate runs/verifier/classifier.pt --part val --out runs/verifier/val.json

If it pays, the product's form would be a fourth, "not a face", output of the classifier: no second network.
"""
import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from models.checkpoint import ClassifierSpec, save_checkpoint
from models.mask_classifier import MaskClassifier
from models.pipeline import MaskPipeline
from research.detector_crops import appended
from training.classifier_engine import fit
from training.data import add_data_args, load_data
from training.detection_metrics import evaluate_detections
from training.evaluate import batched_detections, pipeline_predictions, select_part
from training.faces import FaceTable
from training.recipe import add_recipe_args, recipe_from_args
from training.splits import PARTS, SPLIT_FILES, load_split, part_indices

FACE, NOT_FACE = 0, 1


def stray_rows(table: FaceTable, elsewhere: dict[str, list], label: int) -> tuple[FaceTable, dict[str, np.ndarray]]:
    """`table` with a row labelled `label` per detection in `elsewhere` ({stem: boxes}), and those rows'
    indices by part of the saved image split."""
    position = {stem: i for i, stem in enumerate(table.stems)}
    stems, boxes = [], []
    for stem, found in elsewhere.items():
        if stem in position:
            stems += [stem] * len(found)
            boxes += found
    grown = appended(table, np.array([position[s] for s in stems], dtype=np.int64), boxes, np.full(len(stems), label),
                     [f"{stem}!{k}" for k, stem in enumerate(stems)])
    split = load_split(SPLIT_FILES["image"])
    rows = len(table.labels) + np.arange(len(stems))
    return grown, {part: rows[np.isin(stems, split[part])] for part in PARTS}


def train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    cfg = recipe_from_args(args)
    table = FaceTable.from_voc(load_data(parser, args))
    parts = part_indices(table, "image")
    table = dataclasses.replace(table, labels=np.full(len(table.labels), FACE))
    table, stray = stray_rows(table, json.loads(Path(args.boxes).read_text())["elsewhere"], NOT_FACE)
    train_idx, val_idx = (np.concatenate([parts[p], stray[p]]) for p in ("train", "val"))
    print(f"train {len(parts['train'])} faces / {len(stray['train'])} not; val {len(parts['val'])} / {len(stray['val'])}")
    result = fit(table, train_idx, val_idx, cfg, torch.device("cpu"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "classifier.pt", result.model.cpu(), ClassifierSpec(cfg.arch, cfg.input_size, cfg.margin,
                    meta={"config": dataclasses.asdict(cfg), "verifier": "class 0 face, class 1 not a face"}))
    print(f"wrote {out}/classifier.pt")


def evaluate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    images = select_part(load_data(parser, args), args.part)
    pipeline, verifier = MaskPipeline(), MaskClassifier(args.weights)
    with torch.inference_mode():
        served = pipeline_predictions(batched_detections(pipeline, images, 1), pipeline.classifier, images)
        face = [verifier.predict_boxes(im.load_rgb(), p[0])[:, FACE] for im, p in zip(images, served)]
    gt = [(im.boxes, im.labels) for im in images]
    report = {"part": args.part, "verifier": str(args.weights)}
    for power in args.powers:
        rescored = [(b, lab, s * f ** power) for (b, lab, s, _, _), f in zip(served, face)]
        for name, keep in [("pooled", None)] + [(d, d) for d in sorted({im.dataset for im in images})]:
            chosen = [i for i, im in enumerate(images) if keep is None or im.dataset == keep]
            m = evaluate_detections([gt[i] for i in chosen], [rescored[i] for i in chosen])
            report.setdefault(f"power_{power}", {})[name] = {"map50": m["map50"], "ap50": m["ap50"], "face_ap50": m["face_ap50"]}
            print(f"face probability ^ {power}, {name}: mAP@0.5 {m['map50']:.3f}, face AP@0.5 {m['face_ap50']:.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    learn = commands.add_parser("train")
    add_data_args(learn)
    add_recipe_args(learn, preset="maskwatch")
    learn.add_argument("--boxes", required=True, help="`research.detector_crops boxes --part all` output")
    learn.add_argument("--out", required=True)
    score = commands.add_parser("evaluate")
    add_data_args(score)
    score.add_argument("weights")
    score.add_argument("--part", default="val")
    score.add_argument("--powers", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    score.add_argument("--out", required=True)
    args = parser.parse_args()
    (train if args.command == "train" else evaluate)(args, parser)


if __name__ == "__main__":
    main()
