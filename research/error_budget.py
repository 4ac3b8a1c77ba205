"""Where the pipeline's mAP@0.5 goes: the detector's share and the classifier's.

    python -m research.error_budget --part test --crossval runs/cv:best --out research/results/error_budget/test.md

Each table is given for all datasets together and for each alone.

Rows, each scored by the pipeline's own metric code (one label per face, score = detection x confidence):
- served: the detector's boxes labelled by the classifier, as the service answers;
- detector + perfect labels: the same boxes, each labelled with the class of the ground-truth face it overlaps
  most (IoU >= 0.5; the rest keep the classifier's label) at confidence 1: what a perfect classifier would reach;
- perfect boxes + classifier: the ground-truth boxes at detection score 1, labelled by the classifier: what a
  perfect detector would reach;
- detector without its false positives: the served answers less every detection on no ground-truth face (IoU < 0.5):
  what a perfect face / not-a-face filter behind the detector would reach; then the same for two kinds apart:
  detections on nothing like a face (best IoU < 0.1) and boxes placed badly on one (0.1 <= IoU < 0.5);
- box gap: the classifier's per-class accuracy on the faces the detector found (score >= the service's minimum
  confidence, IoU >= 0.5), read from the detector's box and from the annotated box: is the classifier worse on
  the boxes it is served than on those it was trained on?
- box placement: each annotated face against the detection (score >= the minimum confidence) overlapping it most:
  the median IoU, the share under 0.5, and the spread of log(detected / annotated) width and height. Where the
  spread is wide, the annotations' boxes are loose: no detector places boxes closer to them than they agree.
- with `--crossval DIR:VARIANT` (repeatable): perfect boxes labelled by a cross-validation run's pooled predictions, over all
  the images (every face predicted by the fold that never saw its image), a steadier figure than one part's.
"""
import argparse
from pathlib import Path

import numpy as np

from models.labels import CLASSES
from models.mask_classifier import DEFAULT_WEIGHTS
from models.pipeline import DEFAULT_DETECTOR, DETECTOR_SCALE, MIN_CONFIDENCE, SCORE_FLOOR, MaskPipeline
from training.crossval import VARIANTS
from training.data import add_data_args, load_data
from training.detection_metrics import evaluate_detections, iou
from training.evaluate import batched_detections, pipeline_predictions, select_part
from training.splits import PARTS
from training.voc import VOCImage


def oracle_labels(gt_boxes: np.ndarray, gt_labels: np.ndarray, boxes: np.ndarray, fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each box's label from the ground-truth face it overlaps most when IoU >= 0.5 (confidence 1), else `fallback`
    (confidence 0 marks it: the caller keeps its own confidence)."""
    labels, confident = fallback.copy(), np.zeros(len(boxes), bool)
    if len(boxes) and len(gt_boxes):
        overlap = iou(boxes, gt_boxes)
        best = overlap.argmax(1)
        confident = overlap[np.arange(len(boxes)), best] >= 0.5
        labels[confident] = gt_labels[best[confident]]
    return labels, confident


def matched_faces(gt_boxes: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                  min_confidence: float = MIN_CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Detections scored >= min_confidence paired with the annotated face they found (IoU >= 0.5, best score
    first, one detection per face, as AP matches them): index arrays into `boxes` and into `gt_boxes`."""
    found, faces = [], []
    overlap = iou(boxes, gt_boxes)
    for i in np.argsort(-scores):
        if scores[i] < min_confidence or not len(gt_boxes):
            break
        j = int(overlap[i].argmax())
        if overlap[i, j] >= 0.5 and j not in faces:
            found.append(int(i))
            faces.append(j)
    return np.array(found, dtype=int), np.array(faces, dtype=int)


def box_gap(title: str, images: list[VOCImage], served: list[tuple], gt_probs: list[np.ndarray]) -> list[str]:
    """One Markdown table: per-class accuracy on the matched faces, from the detector's box and the annotated one."""
    labels, on_detected, on_annotated = [], [], []
    for im, (boxes, _, _, probs, det), annotated in zip(images, served, gt_probs):
        found, faces = matched_faces(im.boxes, boxes, det)
        labels.append(im.labels[faces])
        on_detected.append(probs[found].argmax(1) if len(found) else np.zeros(0, int))
        on_annotated.append(annotated[faces].argmax(1) if len(faces) else np.zeros(0, int))
    y = np.concatenate(labels)
    out = [f"### {title}: the classifier on the faces the detector found", "",
           "| crop from | faces | ACA | " + " | ".join(f"acc {c}" for c in CLASSES) + " |", "|---" * (3 + len(CLASSES)) + "|"]
    for name, pred in (("detector's box (served)", np.concatenate(on_detected)), ("annotated box", np.concatenate(on_annotated))):
        acc = [float((pred[y == c] == c).mean()) if (y == c).any() else float("nan") for c in range(len(CLASSES))]
        out.append(f"| {name} | {len(y)} | {np.nanmean(acc):.3f} | " + " | ".join(f"{a:.3f} ({(y == c).sum()})" for c, a in enumerate(acc)) + " |")
    return out + [""]


def without_false_positives(gt_boxes: np.ndarray, pred: tuple, band: tuple[float, float] = (0.0, 0.5)) -> tuple:
    """(boxes, labels, scores) less the detections whose best IoU with a ground-truth face is in [band[0], band[1]):
    the default removes every false positive at IoU 0.5."""
    best = iou(pred[0], gt_boxes).max(1, initial=0) if len(pred[0]) else np.zeros(0)
    keep = (best < band[0]) | (best >= band[1])
    return tuple(a[keep] for a in pred[:3])


def box_placement(title: str, images: list[VOCImage], served: list[tuple]) -> list[str]:
    """One Markdown table: how closely the detector's boxes sit on the annotated faces it found (IoU >= 0.1)."""
    overlaps, ratios = [], []
    for im, (boxes, _, _, _, det) in zip(images, served):
        boxes = boxes[det >= MIN_CONFIDENCE]
        if not len(boxes) or not len(im.boxes):
            continue
        overlap = iou(im.boxes, boxes)
        best = overlap.argmax(1)
        found = overlap[np.arange(len(im.boxes)), best] >= 0.1
        gt, det_boxes = im.boxes[found], boxes[best[found]]
        overlaps.append(overlap[np.arange(len(im.boxes)), best][found])
        ratios.append(np.log((det_boxes[:, 2:] - det_boxes[:, :2]) / np.maximum(gt[:, 2:] - gt[:, :2], 1e-6)))
    o, r = np.concatenate(overlaps), np.concatenate(ratios)
    return [f"### {title}: box placement", "", "| faces found (IoU >= 0.1) | median IoU | IoU < 0.5 | spread (std) of log width ratio | of log height ratio |",
            "|---|---|---|---|---|", f"| {len(o)} | {np.median(o):.2f} | {(o < 0.5).mean():.3f} | {r[:, 0].std():.2f} | {r[:, 1].std():.2f} |", ""]


def crossval_predictions(run: str, images: list[VOCImage]) -> list[tuple]:
    """Ground-truth boxes of every image, labelled by a crossval run's pooled test probabilities (`DIR:VARIANT`)."""
    folder, variant = run.split(":")
    blob = np.load(Path(folder) / "predictions.npz")
    probs = np.zeros_like(blob[f"{variant}_test"])
    probs[blob["test_idx"]] = blob[f"{variant}_test"]  # back to dataset order, as FaceTable numbers faces
    preds, start = [], 0
    for im in images:
        p = probs[start:start + len(im.labels)]
        start += len(im.labels)
        preds.append((im.boxes, p.argmax(1), p.max(1, initial=0)))
    return preds


def row(name: str, images: list[VOCImage], preds: list[tuple]) -> str:
    m = evaluate_detections([(im.boxes, im.labels) for im in images], preds, len(CLASSES), CLASSES)
    return f"| {name} | {len(images)} | {m['map50']:.3f} | " + " | ".join(f"{m['ap50'][c]:.3f}" for c in CLASSES) + f" | {m['face_ap50']:.3f} |"


def dataset_groups(images: list[VOCImage]) -> dict[str, list[int]]:
    """Indices of all the images, then of each dataset's, in the order the datasets first appear."""
    groups = {"all datasets": list(range(len(images)))}
    groups.update({name: [i for i, im in enumerate(images) if im.dataset == name] for name in dict.fromkeys(im.dataset for im in images)})
    return groups


def table(title: str, chosen: list[int], images: list[VOCImage], rows: dict[str, list[tuple]]) -> list[str]:
    """One Markdown table: each row's predictions restricted to the `chosen` images."""
    out = [f"### {title}", "", "| boxes + labels | images | mAP@0.5 | " + " | ".join(f"AP {c}" for c in CLASSES) + " | face AP@0.5 |",
           "|---" * (4 + len(CLASSES)) + "|"]
    return out + [row(name, [images[i] for i in chosen], [preds[i] for i in chosen]) for name, preds in rows.items()] + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--part", choices=PARTS, default="val")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="classifier weights")
    parser.add_argument("--detector-weights", default=str(DEFAULT_DETECTOR))
    parser.add_argument("--scale", type=int, default=DETECTOR_SCALE, help="short side; 0 = the weights' own (default: the service's)")
    parser.add_argument("--score-floor", type=float, default=SCORE_FLOOR, help="default: the service's")
    parser.add_argument("--crossval", action="append", default=[], help="DIR:VARIANT of a training.crossval run on the same --data, e.g. runs/cv:last_tta (repeatable)")
    parser.add_argument("--out", required=True, help="Markdown table")
    args = parser.parse_args()
    for run in args.crossval:
        folder, _, variant = run.partition(":")
        if variant not in VARIANTS or not (Path(folder) / "predictions.npz").is_file():
            parser.error(f"--crossval {run!r}: expected DIR:VARIANT, VARIANT one of {sorted(VARIANTS)}, DIR/predictions.npz from training.crossval")
    every = load_data(parser, args)
    images = select_part(every, args.part)
    pipeline = MaskPipeline(args.detector_weights, args.weights, scale=args.scale, score_floor=args.score_floor)
    served = pipeline_predictions(batched_detections(pipeline, images, 1), pipeline.classifier, images)
    perfect_labels = []
    for im, (boxes, labels, scores, probs, det) in zip(images, served):
        oracle, confident = oracle_labels(im.boxes, im.labels, boxes, labels)
        perfect_labels.append((boxes, oracle, np.where(confident, det, scores)))
    perfect_boxes, gt_probs = [], []
    for im in images:
        gt_probs.append(pipeline.classifier.predict_boxes(im.load_rgb(), im.boxes))
        perfect_boxes.append((im.boxes, gt_probs[-1].argmax(1), gt_probs[-1].max(1, initial=0)))
    rows = {f"served: detector + classifier ({args.part})": [p[:3] for p in served],
            f"detector + perfect labels ({args.part})": perfect_labels, f"perfect boxes + classifier ({args.part})": perfect_boxes,
            f"served, detector's false positives removed ({args.part})": [without_false_positives(im.boxes, p) for im, p in zip(images, served)],
            f"served, those on nothing like a face removed, IoU < 0.1 ({args.part})": [without_false_positives(im.boxes, p, (0.0, 0.1)) for im, p in zip(images, served)],
            f"served, badly placed boxes removed, IoU 0.1-0.5 ({args.part})": [without_false_positives(im.boxes, p, (0.1, 0.5)) for im, p in zip(images, served)]}
    lines = [f"`{pipeline.detector_name}` + `{pipeline.classifier.name}`, short side {pipeline.detector_spec.min_size}, "
             f"score floor {pipeline.detector.score_thresh}", ""]
    for title, chosen in dataset_groups(images).items():
        lines += table(title, chosen, images, rows)
        lines += box_gap(title, [images[i] for i in chosen], [served[i] for i in chosen], [gt_probs[i] for i in chosen])
        lines += box_placement(title, [images[i] for i in chosen], [served[i] for i in chosen])
    for run in args.crossval:
        preds = crossval_predictions(run, every)
        for title, chosen in dataset_groups(every).items():
            lines += table(f"{title}, every image: perfect boxes + cross-validated classifier `{run}`", chosen, every, {"cross-validated": preds})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
