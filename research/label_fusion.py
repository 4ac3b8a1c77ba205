"""Where a three-class detector's labels should come from: itself, the classifier, or both fused.

    python -m research.label_fusion --detector-weights runs/detector_3class/detector.pt \
        --part val --scale 544 --score-floor 0.05 --out research/results/detector/label_fusion_val_544.md

Each detected face (class-agnostic suppression, `models.detector.FaceFCOS`) gets a class distribution from
one rule below; its label is the argmax and its score detection x confidence, as the pipeline scores faces.
"""
import argparse
from pathlib import Path

import numpy as np

from models.detector import detect
from models.labels import CLASSES
from models.pipeline import MaskPipeline
from training.data import KAGGLE_DATA
from training.detection_metrics import evaluate_detections
from training.evaluate import EVAL_MIN_CONFIDENCE
from training.splits import PARTS, SPLIT_FILES, load_split
from training.voc import VOCImage, read_voc


def fuse(detector_scores: np.ndarray, classifier_probs: np.ndarray) -> np.ndarray:
    """Geometric mean of the detector's and the classifier's class distributions, renormalised (chosen on val over
    the arithmetic mean and the detector's one-hot label: research/results/detector/three_class.md)."""
    mean = np.sqrt(detector_scores * classifier_probs)
    return mean / np.maximum(mean.sum(1, keepdims=True), 1e-12)


def three_class_outputs(pipeline: MaskPipeline, images: list[VOCImage]) -> list[tuple]:
    """Per image, a three-class detector's (boxes, detection scores, class scores) and the classifier's probabilities."""
    out = []
    for im in images:
        rgb = im.load_rgb()
        found = detect(pipeline.detector, [rgb], pipeline.device)[0]
        keep = found["scores"].numpy() >= EVAL_MIN_CONFIDENCE
        boxes, det, class_scores = (found[k].numpy()[keep] for k in ("boxes", "scores", "class_scores"))
        out.append((boxes, det, class_scores, pipeline.classifier.predict_boxes(rgb, boxes)))
    return out

RULES = {
    "classifier": lambda det, cls: cls,
    "detector": lambda det, cls: det,
    "detector one-hot + classifier, arithmetic mean": lambda det, cls: (np.eye(det.shape[1])[det.argmax(1)] + cls) / 2,
    "arithmetic mean": lambda det, cls: (det + cls) / 2,
    "geometric mean": fuse,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=KAGGLE_DATA)
    parser.add_argument("--detector-weights", required=True, help="a detector trained with --three-class")
    parser.add_argument("--part", choices=PARTS, default="val")
    parser.add_argument("--scale", type=int, default=0, help="short side; 0 = the weights' own")
    parser.add_argument("--score-floor", type=float, default=0.05)
    parser.add_argument("--out", required=True, help="Markdown table")
    args = parser.parse_args()
    wanted = set(load_split(SPLIT_FILES["image"])[args.part])
    images = [im for im in read_voc(args.data) if im.stem in wanted]
    pipeline = MaskPipeline(args.detector_weights, scale=args.scale, score_floor=args.score_floor)
    if pipeline.detector_spec.num_classes != len(CLASSES):
        parser.error("--detector-weights must be a three-class detector")
    found = three_class_outputs(pipeline, images)
    rows = [f"{args.part} part, {len(images)} images, short side {pipeline.detector_spec.min_size}, "
            f"score floor {pipeline.detector.score_thresh}, detector `{args.detector_weights}`", "",
            "| labels from | mAP@0.5 | " + " | ".join(f"AP {c}" for c in CLASSES) + " | face AP@0.5 | COCO mAP |",
            "|---" * (4 + len(CLASSES)) + "|"]
    for name, rule in RULES.items():
        preds = []
        for boxes, det, class_scores, probs in found:
            fused = rule(class_scores, probs)
            preds.append((boxes, fused.argmax(1), det * fused.max(1, initial=0)))
        m = evaluate_detections([(im.boxes, im.labels) for im in images], preds, len(CLASSES), CLASSES)
        rows.append(f"| {name} | {m['map50']:.3f} | " + " | ".join(f"{m['ap50'][c]:.3f}" for c in CLASSES)
                    + f" | {m['face_ap50']:.3f} | {m['map50_95']:.3f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
