"""The classifier trained on crops from the detector's boxes beside the annotated ones.

The served classifier reads the detector's boxes, not the annotators'. On the test part, on the faces the
shipped detector found, its incorrectly-worn accuracy is 0.830 from the detector's box against 0.894 from the
annotated box (`results/two_datasets/error_budget_test_retinaface_init.md`). Here every training face the
shipped detector finds (IoU >= 0.5, as AP matches) is added a second time, cropped from the detector's box with
the annotated label; half the epochs keep the number of steps. Val (calibration) and test stay annotated boxes.

    python -m research.detector_crops boxes --part train --out runs/detector_crops/train_boxes.json
    python -m research.detector_crops train --boxes runs/detector_crops/train_boxes.json --epochs 15 \
        --mixup 0.2 --keep last --out runs/clf_detector_crops

`boxes --part all` also serves `research.face_verifier` (the detections on no annotated face it records).
"""
import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.checkpoint import ClassifierSpec, save_checkpoint
from models.mask_classifier import DEFAULT_WEIGHTS
from models.pipeline import DEFAULT_DETECTOR, MIN_CONFIDENCE, MaskPipeline
from research.error_budget import matched_faces
from training.classifier_engine import fit
from training.data import add_data_args, load_data
from training.detection_metrics import iou
from training.evaluate import select_part
from training.faces import FaceTable
from training.metrics import calibrate, calibrated_probs, per_dataset, summarize
from training.recipe import add_recipe_args, recipe_from_args
from training.splits import part_indices
from training.train_classifier import part_logits


def detector_boxes(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Write {face id: the shipped detector's box} for every annotated face of the part it finds, and
    {stem: boxes} of its detections (>= the service's MIN_CONFIDENCE) that overlap no annotated face (IoU < 0.3)."""
    pipeline = MaskPipeline(DEFAULT_DETECTOR, DEFAULT_WEIGHTS)
    found, elsewhere = {}, {}
    with torch.inference_mode():
        for im in tqdm(select_part(load_data(parser, args), None if args.part == "all" else args.part), desc="detect", unit="image"):
            boxes, scores = pipeline.detect(im.load_rgb())
            for i, j in zip(*matched_faces(im.boxes, boxes, scores)):
                found[f"{im.stem}#{j}"] = [round(float(v), 2) for v in boxes[i]]
            stray = (scores >= MIN_CONFIDENCE) & (iou(boxes, im.boxes).max(1, initial=0) < 0.3)
            if stray.any():
                elsewhere[im.stem] = [[round(float(v), 2) for v in b] for b in boxes[stray]]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"detector": pipeline.detector_name, "part": args.part, "boxes": found,
                                          "elsewhere": elsewhere}))
    print(f"{len(found)} faces found, {sum(map(len, elsewhere.values()))} detections on no annotated face; wrote {args.out}")


def appended(table: FaceTable, image_index: np.ndarray, boxes: np.ndarray, labels: np.ndarray, ids: list[str]) -> FaceTable:
    """`table` with rows added after its own: each a box on one of its images, with a label and an id."""
    dataset_of = dict(zip(table.image_index.tolist(), table.datasets.tolist()))
    return dataclasses.replace(
        table, image_index=np.concatenate([table.image_index, image_index]),
        boxes=np.concatenate([table.boxes, np.asarray(boxes, np.float32).reshape(-1, 4)]),
        labels=np.concatenate([table.labels, labels]), ids=table.ids + ids,
        datasets=np.concatenate([table.datasets, np.array([dataset_of[i] for i in image_index.tolist()], dtype=str)]),
        fixed_crops={})


def with_detector_rows(table: FaceTable, boxes: dict[str, list[float]]) -> tuple[FaceTable, np.ndarray, np.ndarray]:
    """`table` with one more row per face in `boxes` (its detector box, its label), those rows' indices and
    the annotated row each copies (a part's faces select their copies through it)."""
    rows = table.select_faces(list(boxes))
    grown = appended(table, table.image_index[rows], [boxes[table.ids[r]] for r in rows], table.labels[rows],
                     [f"{table.ids[r]}@detector" for r in rows])
    return grown, np.arange(len(table.labels), len(grown.labels)), rows


def copies_of(faces: np.ndarray, extra: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The detector rows whose annotated face is one of `faces`."""
    return extra[np.isin(source, faces)]


def train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    cfg = recipe_from_args(args)
    table = FaceTable.from_voc(load_data(parser, args))
    parts = part_indices(table, "image")
    table, extra, source = with_detector_rows(table, json.loads(Path(args.boxes).read_text())["boxes"])
    extra = copies_of(parts["train"], extra, source)
    result = fit(table, np.concatenate([parts["train"], extra]), parts["val"], cfg, torch.device("cpu"))
    val_logits, test_logits = (part_logits(result.model, table, parts[p], cfg) for p in ("val", "test"))
    y_val, y_test = table.labels[parts["val"]], table.labels[parts["test"]]
    temperature, bias = calibrate(val_logits, y_val, table.labels[parts["train"]], True)
    val_probs, test_probs = (calibrated_probs(x, temperature, bias) for x in (val_logits, test_logits))
    metrics = {"val": summarize(y_val, val_probs), "test": summarize(y_test, test_probs),
               "val_per_dataset": per_dataset(y_val, val_probs, table.datasets[parts["val"]]),
               "test_per_dataset": per_dataset(y_test, test_probs, table.datasets[parts["test"]]),
               "detector_rows": len(extra), "temperature": temperature, "logit_bias": bias.tolist(), "train_seconds": result.seconds}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = ClassifierSpec(cfg.arch, cfg.input_size, cfg.margin, temperature, tuple(bias.tolist()), cfg.flip_tta,
                          meta={"config": dataclasses.asdict(cfg), "split": "image", "detector_boxes": args.boxes})
    save_checkpoint(out / "classifier.pt", result.model.cpu(), spec)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print("val ACA", round(metrics["val"]["aca"], 3), "test ACA", round(metrics["test"]["aca"], 3), f"; wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    boxes = commands.add_parser("boxes", help="the shipped detector's boxes of the annotated faces it finds")
    add_data_args(boxes)
    boxes.add_argument("--part", default="train", help="train, val, test or all")
    boxes.add_argument("--out", required=True)
    learn = commands.add_parser("train", help="the classifier recipe on annotated + detector crops of the train part")
    add_data_args(learn)
    add_recipe_args(learn, preset="maskwatch")
    learn.add_argument("--boxes", required=True, help="the `boxes` command's output for the train part")
    learn.add_argument("--out", required=True)
    args = parser.parse_args()
    (detector_boxes if args.command == "boxes" else train)(args, parser)


if __name__ == "__main__":
    main()
