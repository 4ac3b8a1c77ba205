"""Evaluate MaskWatch on VOC folders, each dataset reported alone and pooled.

Classifier mode (default): classify the ground-truth faces and print per-class accuracy, ACA, ECE and
the confusion matrix (rows true, columns predicted) as JSON.

    python -m training.evaluate --data path/to/voc [--weights models/weights/classifier.pt]
    python -m training.evaluate --part test      # both datasets, the image split's test part

Pipeline mode: detect + classify at the service's settings (models/pipeline.py), then per-class AP@0.5
(VOC all-point), mAP@0.5, COCO mAP@[.5:.95], class-agnostic face AP@0.5 and recall, recall by face size;
writes a precision-recall plot and a few annotated examples to --out. Per-class AP ranks each face in its
top label only (one label per face, as the service answers); `ap50_class_scores` / `map50_class_scores`
also rank every face in every class by detection score x that class's probability, the way detectors
that emit a box per class are scored. Face AP ranks faces by the served score (detection x confidence);
`face_ap50_detector` ranks them by the detection score alone: the detector's own figure.

    python -m training.evaluate --pipeline --part test --out runs/pipeline
"""
import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from models.annotate import annotate
from models.backends import BACKENDS, BackendError
from models.face_pipeline import FacePipeline
from models.labels import CLASSES, COLORS_BGR
from models.loading import open_pipeline
from models.mask_classifier import DEFAULT_WEIGHTS, MaskClassifier
from models.pipeline import DEFAULT_DETECTOR, DETECTOR_SCALE, MIN_CONFIDENCE, SCORE_FLOOR, Face, MaskPipeline
from models.plan import resolve_plan
from training.data import add_data_args, load_data
from training.detection_metrics import class_ap50, evaluate_detections, face_ap50, ignored, pr_curve
from training.metrics import per_dataset, summarize
from training.splits import PARTS, SPLIT_FILES, load_split
from training.voc import VOCImage

EVAL_MIN_CONFIDENCE = 0.05  # keep low-scored detections: AP integrates over the whole precision-recall curve


def load_ignore(path: str | None) -> dict[str, np.ndarray]:
    """Ignore regions by image stem, from a JSON file {"stem": [[x1, y1, x2, y2], ...], ...}."""
    if not path:
        return {}
    return {stem: np.asarray(boxes, dtype=np.float64).reshape(-1, 4) for stem, boxes in json.loads(Path(path).read_text()).items()}


def drop_ignored(images: list[VOCImage], preds: list[tuple], ignore: dict[str, np.ndarray]) -> list[tuple]:
    """`preds` without the detections on each image's ignore regions (see `detection_metrics.ignored`)."""
    out = []
    for im, pred in zip(images, preds):
        keep = ~ignored(im.boxes, ignore.get(im.stem, np.zeros((0, 4))), pred[0])
        out.append(tuple(a[keep] for a in pred))
    return out


def pipeline_predictions(detections: list[tuple], classifier: MaskClassifier | FacePipeline, images: list[VOCImage]) -> list[tuple]:
    """Per image: (boxes, labels, scores, class probabilities, detection scores); score = detection x class confidence.
    `classifier`: a pipeline labels each face as it serves it (`models.face_sizes`), a classifier alone all of them."""
    out = []
    for im, (boxes, det) in zip(images, detections):
        keep = det >= EVAL_MIN_CONFIDENCE
        boxes, det = boxes[keep], det[keep]
        probs = classifier.predict_boxes(im.load_rgb(), boxes)
        out.append((boxes, probs.argmax(1) if len(probs) else np.zeros(0, int), det * probs.max(1, initial=0), probs, det))
    return out


def batched_detections(pipeline: FacePipeline, images: list[VOCImage], batch: int) -> list[tuple]:
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


def write_examples(images: list[VOCImage], preds: list[tuple], out: Path, min_confidence: float, count: int) -> None:
    for im, (boxes, labels, _, probs, det) in list(zip(images, preds))[:count]:
        faces = [Face(list(b), CLASSES[int(label)], float(p.max()), {}, float(d))
                 for b, label, p, d in zip(boxes, labels, probs, det) if d >= min_confidence]
        cv2.imwrite(str(out / f"example_{im.stem}.png"), annotate(im.load_rgb(), faces))


def evaluate_classifier(classifier: MaskClassifier, images: list[VOCImage]) -> dict:
    """Classify every ground-truth face of `images` (one batch per image); pooled and per dataset."""
    probs, labels, datasets = [], [], []
    for im in images:
        if len(im.labels):
            probs.append(classifier.predict_boxes(im.load_rgb(), im.boxes))
            labels.append(im.labels)
            datasets += [im.dataset] * len(im.labels)
    y, p = np.concatenate(labels), np.concatenate(probs)
    return {**summarize(y, p), "per_dataset": per_dataset(y, p, np.array(datasets))}


def detection_report(images: list[VOCImage], preds: list[tuple]) -> dict:
    """Detection metrics of `pipeline_predictions` over all images, and over each dataset's images alone."""
    def metrics(chosen: list[int]) -> dict:
        gt = [(images[i].boxes, images[i].labels) for i in chosen]
        pred = [preds[i] for i in chosen]
        out = evaluate_detections(gt, [p[:3] for p in pred], len(CLASSES), CLASSES)
        # the service returns every face's three scores: ranking faces by any one of them is what this AP measures
        out["ap50_class_scores"] = class_ap50(gt, [p[:3] for p in pred], CLASSES, [p[4][:, None] * p[3] for p in pred])
        out["map50_class_scores"] = float(np.nanmean(list(out["ap50_class_scores"].values())))
        out["face_ap50_detector"] = face_ap50([g[0] for g in gt], [(p[0], p[4]) for p in pred])
        return out

    names = [im.dataset for im in images]
    report = metrics(list(range(len(images))))
    report["per_dataset"] = {n: metrics([i for i, m in enumerate(names) if m == n]) for n in dict.fromkeys(names)}
    return report


def select_part(images: list[VOCImage], part: str | None) -> list[VOCImage]:
    if not part:
        return images
    wanted = set(load_split(SPLIT_FILES["image"])[part])
    return [im for im in images if im.stem in wanted]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="classifier weights")
    parser.add_argument("--part", choices=PARTS, help="only the images of this part of the saved image split")
    parser.add_argument("--pipeline", action="store_true", help="detect faces instead of using the ground-truth boxes")
    parser.add_argument("--detector-weights", default=str(DEFAULT_DETECTOR))
    parser.add_argument("--min-confidence", type=float, default=MIN_CONFIDENCE, help="detection score for the annotated examples")
    parser.add_argument("--examples", type=int, default=4)
    parser.add_argument("--out", default="runs/evaluate", help="pipeline mode: where metrics, plots and examples go")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="torch", help="what runs the networks (models/runtime.py)")
    parser.add_argument("--precision", choices=("fp32", "fp16", "bf16", "int8"), default="fp32",
                        help="fp16 on CUDA, bf16 with OpenVINO, as the service's MASKWATCH_PRECISION")
    parser.add_argument("--scale", type=int, default=DETECTOR_SCALE, help="detector short side; 0 = the weights' own (default: the service's)")
    parser.add_argument("--score-floor", type=float, default=SCORE_FLOOR, help="detector's lowest kept score (default: the service's)")
    parser.add_argument("--batch", type=int, default=1, help="detect this many images per batch, as the service's micro-batches")
    parser.add_argument("--dynamic-shapes", action="store_true", help="openvino-ir: only the dynamic-shape detector network, not the static ones")
    parser.add_argument("--ignore", help="JSON {stem: [[x1, y1, x2, y2], ...]}: unannotated real faces, whose detections count neither way")
    args = parser.parse_args()
    images = select_part(load_data(parser, args), args.part)
    if not images:
        parser.error(f"no image of --data is in the {args.part} part of the saved split")
    model_dir = Path(args.detector_weights).parent
    try:
        plan = resolve_plan(args.device, args.backend, args.precision, model_dir)
    except BackendError as err:
        parser.error(str(err))
    backend = plan.backend
    report = {"classifier": None, "data": args.data, "part": args.part, "images": len(images), "device": plan.device,
              "backend": backend, "precision": plan.precision, "batch": args.batch, "scale": args.scale, "score_floor": args.score_floor,
              "static_shapes": backend == "openvino-ir" and not args.dynamic_shapes}
    if not args.pipeline:
        if backend == "openvino-ir":
            parser.error("--backend openvino-ir runs the whole --pipeline only")
        classifier = MaskClassifier(args.weights, plan.device, plan.precision, backend)
        report["classifier"] = classifier.name
        print(json.dumps({**report, **evaluate_classifier(classifier, images)}, indent=1))
        return 0
    if backend == "openvino-ir":  # the folder `python -m models.export` wrote beside the detector's weights
        pipeline = open_pipeline(plan, model_dir, static_shapes=not args.dynamic_shapes, scale=args.scale, score_floor=args.score_floor)
    else:
        pipeline = MaskPipeline(args.detector_weights, args.weights, plan.device, precision=plan.precision, scale=args.scale,
                                score_floor=args.score_floor, backend=backend)
    report["classifier"], report["detector"] = pipeline.info["classifier"], pipeline.info["detector"]
    preds = pipeline_predictions(batched_detections(pipeline, images, args.batch), pipeline, images)
    report.update(detection_report(images, drop_ignored(images, preds, load_ignore(args.ignore))), ignore=args.ignore)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=1))
    plot_pr(images, preds, out / "pr_curve.png", f"{report['detector']} + classifier ({args.part or 'all'} images)")
    write_examples(images, preds, out, args.min_confidence, args.examples)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
