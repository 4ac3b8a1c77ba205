"""Evaluate MaskWatch on any VOC folder.

Classifier mode (default): classify the ground-truth faces and print per-class accuracy, ACA, ECE and
the confusion matrix (rows true, columns predicted) as JSON.

    python -m training.evaluate --data path/to/voc [--weights models/weights/classifier.pt]
    python -m training.evaluate --part test      # this dataset, the image split's test part

Pipeline mode: detect + classify, then per-class AP@0.5 (VOC all-point), mAP@0.5, COCO mAP@[.5:.95],
class-agnostic face AP@0.5 and recall, recall by face size; writes a precision-recall plot and a few
annotated examples to --out. Per-class AP ranks each face in its top label only (one label per face, as
the service answers); `ap50_class_scores` / `map50_class_scores` also rank every face in every class by
detection score x that class's probability, the way detectors that emit a box per class are scored.
`--detector haar|mtcnn` swaps in a baseline detector (see training/baselines.py).

    python -m training.evaluate --pipeline --part test --out results/pipeline

With a three-class detector (`train_detector --three-class`), `--labels detector` scores its own class scores and
`--labels fused` their geometric mean with the classifier's probabilities.
"""
import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from models.annotate import annotate
from models.classifier import DEFAULT_WEIGHTS, MaskClassifier
from models.labels import CLASSES, COLORS_BGR
from models.detector import detect
from models.pipeline import DEFAULT_DETECTOR, Face, MaskPipeline
from training.data import DEFAULT_DATA
from training.detection_metrics import class_ap50, evaluate_detections, pr_curve
from training.metrics import summarize
from training.splits import PARTS, SPLIT_FILES, load_split
from training.voc import VOCError, VOCImage, read_voc

EVAL_MIN_SCORE = 0.05  # keep low-scored detections: AP integrates over the whole precision-recall curve


def evaluate_classifier(classifier: MaskClassifier, images: list[VOCImage]) -> dict:
    """Classify every ground-truth face of `images` (one batch per image) and summarise."""
    probs, labels = [], []
    for im in images:
        if len(im.labels):
            probs.append(classifier.predict_boxes(im.load_rgb(), im.boxes))
            labels.append(im.labels)
    return summarize(np.concatenate(labels), np.concatenate(probs))


def pipeline_predictions(detections: list[tuple], classifier: MaskClassifier, images: list[VOCImage]) -> list[tuple]:
    """Per image: (boxes, labels, scores, class probabilities, detection scores); score = detection x class confidence."""
    out = []
    for im, (boxes, det) in zip(images, detections):
        rgb = im.load_rgb()
        keep = det >= EVAL_MIN_SCORE
        boxes, det = boxes[keep], det[keep]
        probs = classifier.predict_boxes(rgb, boxes)
        out.append((boxes, probs.argmax(1) if len(probs) else np.zeros(0, int), det * probs.max(1, initial=0), probs, det))
    return out


def fuse(detector_scores: np.ndarray, classifier_probs: np.ndarray) -> np.ndarray:
    """Geometric mean of the detector's and the classifier's class distributions, renormalised (chosen on val over
    the arithmetic mean and the detector's one-hot label: results/detector/three_class.md)."""
    mean = np.sqrt(detector_scores * classifier_probs)
    return mean / np.maximum(mean.sum(1, keepdims=True), 1e-12)


def three_class_outputs(pipeline: MaskPipeline, images: list[VOCImage]) -> list[tuple]:
    """Per image, a three-class detector's (boxes, detection scores, class scores) and the classifier's probabilities."""
    out = []
    for im in images:
        rgb = im.load_rgb()
        found = detect(pipeline.detector, [rgb], pipeline.device)[0]
        keep = found["scores"].numpy() >= EVAL_MIN_SCORE
        boxes, det, class_scores = (found[k].numpy()[keep] for k in ("boxes", "scores", "class_scores"))
        out.append((boxes, det, class_scores, pipeline.classifier.predict_boxes(rgb, boxes)))
    return out


def detector_label_predictions(pipeline: MaskPipeline, images: list[VOCImage], fused: bool) -> list[tuple]:
    """Like `pipeline_predictions`, labels from a three-class detector's class scores; `fused` with the classifier's."""
    out = []
    for boxes, det, class_scores, classifier_probs in three_class_outputs(pipeline, images):
        probs = fuse(class_scores, classifier_probs) if fused else class_scores
        out.append((boxes, probs.argmax(1), det * probs.max(1, initial=0), probs, det))
    return out


def batched_detections(pipeline: MaskPipeline, images: list[VOCImage], batch: int) -> list[tuple]:
    """`pipeline.detect` of each image, `batch` images at a time (padded together, as in the service's micro-batches)."""
    found = []
    for start in range(0, len(images), batch):
        found += pipeline.detect_batch([im.load_rgb() for im in images[start:start + batch]])
    return found


def plot_pr(images: list[VOCImage], preds: list[tuple], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    precision, recall = pr_curve([im.boxes for im in images], [(p[0], p[4]) for p in preds])
    ax.plot(recall, precision, label="face (class-agnostic)", color="black")
    for c, name in enumerate(CLASSES):
        precision, recall = pr_curve([im.boxes[im.labels == c] for im in images], [(p[0][p[1] == c], p[2][p[1] == c]) for p in preds])
        ax.plot(recall, precision, label=name, color=np.array(COLORS_BGR[name][::-1]) / 255)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_examples(images: list[VOCImage], preds: list[tuple], out: Path, min_score: float, count: int) -> None:
    for im, (boxes, labels, _, probs, det) in list(zip(images, preds))[:count]:
        faces = [Face(list(b), CLASSES[int(l)], float(p.max()), {}, float(d))
                 for b, l, p, d in zip(boxes, labels, probs, det) if d >= min_score]
        cv2.imwrite(str(out / f"example_{im.stem}.png"), annotate(im.load_rgb(), faces))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, help="VOC folder (images/ + annotations/)")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="classifier weights")
    parser.add_argument("--part", choices=PARTS, help="only the images of this part of the saved image split")
    parser.add_argument("--pipeline", action="store_true", help="detect faces instead of using the ground-truth boxes")
    parser.add_argument("--detector", default="ours", choices=("ours", "haar", "mtcnn"))
    parser.add_argument("--detector-weights", default=str(DEFAULT_DETECTOR))
    parser.add_argument("--min-score", type=float, default=0.3, help="detection score for the annotated examples")
    parser.add_argument("--examples", type=int, default=4)
    parser.add_argument("--out", default="results/pipeline", help="pipeline mode: where plots and examples go")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32", help="fp16 on CUDA, as the service's MASKWATCH_PRECISION")
    parser.add_argument("--scale", type=int, help="detector short side (default: the one in the weights)")
    parser.add_argument("--labels", choices=("classifier", "detector", "fused"), default="classifier",
                        help="a three-class detector's own class scores, or fused with the classifier's probabilities")
    parser.add_argument("--score-floor", type=float, help="detector's lowest kept score (default: the weights' 0.05)")
    parser.add_argument("--batch", type=int, default=1, help="detect this many images per batch, as the service's micro-batches")
    args = parser.parse_args()
    try:
        images = read_voc(args.data)
    except VOCError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.part:
        wanted = set(load_split(SPLIT_FILES["image"])[args.part])
        images = [im for im in images if im.stem in wanted]
    half = args.precision == "fp16"
    pipeline = MaskPipeline(args.detector_weights, args.weights, args.device, half=half, scale=args.scale,
                            score_floor=args.score_floor) if args.pipeline and args.detector == "ours" else None
    classifier = pipeline.classifier if pipeline else MaskClassifier(args.weights, args.device, half)
    report = {"classifier": classifier.name, "data": args.data, "part": args.part, "images": len(images),
              "device": args.device, "precision": args.precision, "batch": args.batch,
              "scale": args.scale, "score_floor": args.score_floor}
    if not args.pipeline:
        print(json.dumps({**report, **evaluate_classifier(classifier, images)}, indent=1))
        return 0
    if pipeline:
        detections, report["detector"] = batched_detections(pipeline, images, args.batch), pipeline.detector_name
    else:
        from training import baselines
        detect_fn = baselines.haar_detector() if args.detector == "haar" else baselines.mtcnn_detector(args.device)
        detections, report["detector"] = [detect_fn(im.load_rgb()) for im in images], args.detector
    if args.labels == "classifier":
        preds = pipeline_predictions(detections, classifier, images)
    elif pipeline is None or pipeline.detector_spec.num_classes != len(CLASSES):
        parser.error("--labels detector|fused needs our detector trained with --three-class")
    else:
        preds = detector_label_predictions(pipeline, images, args.labels == "fused")
    report["labels"] = args.labels
    gt = [(im.boxes, im.labels) for im in images]
    metrics = evaluate_detections(gt, [p[:3] for p in preds], len(CLASSES), CLASSES)
    # the service returns every face's three scores: ranking faces by any one of them is what this AP measures
    metrics["ap50_class_scores"] = class_ap50(gt, [p[:3] for p in preds], CLASSES, [p[4][:, None] * p[3] for p in preds])
    metrics["map50_class_scores"] = float(np.nanmean(list(metrics["ap50_class_scores"].values())))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report.update(metrics)
    (out / "metrics.json").write_text(json.dumps(report, indent=1))
    plot_pr(images, preds, out / "pr_curve.png", f"{report['detector']} + classifier ({args.part or 'all'} images)")
    write_examples(images, preds, out, args.min_score, args.examples)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
