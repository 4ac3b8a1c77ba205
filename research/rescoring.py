"""Can evidence the detector lacks rank its detections better? Four tries behind the shipped pipeline, on one part.

    python -m research.rescoring --part val --out research/results/two_datasets/rescoring/val.md

The error budget puts the detection targets in the detector's false positives (research.error_budget). Each try
below keeps the served boxes and labels (score = detection x class confidence, as served) and changes what ranks them:
- YuNet's agreement: each detection's score s becomes s ** (1 - weight) * (floor + (1 - floor) * a) ** weight, where
  a is the best YuNet score on it (IoU >= 0.5; 0 when none). YuNet (../shared/pretrained, WIDER FACE only) never saw these datasets, so its
  mistakes are not ours; it runs at short side 720, where it finds the small Kaggle faces;
- a learned rescorer: a logistic regression on what is known of each detection (its score, size against the image
  and against the image's confident faces, rank, shape, overlap with a better-scored box, the classifier's confidence
  and entropy, YuNet's agreement), fitted on four fifths of the part's images and scored on the fifth, five times;
- an appearance verifier: a logistic regression on the detection's score and the first 32 principal components of
  the shipped classifier's last features of its crop, fitted as the rescorer is (negatives from images the
  detector never trained on, as the verifier of research.face_verifier lacked); its probability and the detection
  score are averaged geometrically;
- test-time augmentation: the detections on the image and on its mirror image (at 528, and at 640 px) fused by
  weighted box fusion (a box's coordinates averaged over the views, weighted by score; its score, the views' mean),
  then labelled by the classifier.
"""
import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from models.checkpoint import load_checkpoint
from models.crops import to_tensor
from models.labels import CLASSES
from models.mask_classifier import MaskClassifier
from models.pipeline import MaskPipeline
from research.baselines import DetectFn, yunet_detector
from research.error_budget import dataset_groups, matched_faces, table
from training.data import add_data_args, load_data
from training.detection_metrics import class_ap50, iou
from training.evaluate import pipeline_predictions, select_part
from training.splits import PARTS
from training.voc import VOCImage

YUNET_SIDE = 720
FOLDS = 5


def yunet_agreement(boxes: np.ndarray, yunet: tuple[np.ndarray, np.ndarray], iou_thr: float = 0.5) -> np.ndarray:
    """For each box, the best score of a YuNet detection on it (IoU >= iou_thr), else 0."""
    yunet_boxes, yunet_scores = yunet
    if not len(boxes) or not len(yunet_boxes):
        return np.zeros(len(boxes))
    return np.where(iou(boxes, yunet_boxes) >= iou_thr, yunet_scores[None, :], 0.0).max(1)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def features(image: VOCImage, boxes: np.ndarray, det: np.ndarray, probs: np.ndarray, agreement: np.ndarray) -> np.ndarray:
    """One row per detection (best first, as the detector returns them) of what a rescorer may use."""
    n = len(boxes)
    sides = np.sqrt(np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0))
    confident = sides[det >= 0.5]
    typical = np.median(confident) if len(confident) else sides[0]
    overlap = iou(boxes, boxes)
    under_better = np.array([overlap[i, :i].max(initial=0) for i in range(n)])
    entropy = -(probs * np.log(np.maximum(probs, 1e-9))).sum(1)
    columns = [logit(det), np.log(sides / min(image.width, image.height)), np.log(sides / typical), np.full(n, logit(det[:1])[0]),
               np.log1p(np.arange(n)), np.log(np.maximum(boxes[:, 3] - boxes[:, 1], 1) / np.maximum(boxes[:, 2] - boxes[:, 0], 1)),
               np.full(n, np.log1p((det >= 0.5).sum())), under_better, probs.max(1), entropy, agreement]
    return np.stack(columns, 1)


def targets(gt_boxes: np.ndarray, boxes: np.ndarray, det: np.ndarray) -> np.ndarray:
    """1 for each detection AP counts as a true positive (IoU >= 0.5, best score first, one per face), else 0."""
    y = np.zeros(len(boxes))
    y[matched_faces(gt_boxes, boxes, det, min_confidence=0.0)[0]] = 1
    return y


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (L-BFGS; the columns standardised by the caller)."""
    xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) + l2 * (w ** 2).sum()
        value.backward()
        return value
    optimizer.step(loss)
    return w.detach().numpy(), float(b.detach())


def cross_fitted(x: np.ndarray, y: np.ndarray, image_of: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Each detection's probability of being a face from the rescorer fitted on the other folds' images."""
    fold, out = image_of % FOLDS, np.zeros(len(y))
    for k in range(FOLDS):
        train, test = fold != k, fold == k
        mean, std = x[train].mean(0), x[train].std(0) + 1e-9
        w, b = fit_logistic((x[train] - mean) / std, y[train], l2)
        out[test] = 1 / (1 + np.exp(-(((x[test] - mean) / std) @ w + b)))
    return out


@torch.inference_mode()
def appearance(net: torch.nn.Module, classifier: MaskClassifier, image: VOCImage, boxes: np.ndarray) -> np.ndarray:
    """`net` (the classifier's MobileNetV2, unfused) pooled last features (1280) of each box's crop as `classifier` cuts it."""
    crops = to_tensor(classifier.crops(image.load_rgb(), boxes))
    return torch.nn.functional.adaptive_avg_pool2d(net.features(crops), 1).flatten(1).numpy()


def principal_components(x: np.ndarray, count: int) -> np.ndarray:
    """`x` projected on its first `count` principal components."""
    centred = x - x.mean(0)
    return centred @ np.linalg.svd(centred, full_matrices=False)[2][:count].T


def weighted_box_fusion(views: list[tuple[np.ndarray, np.ndarray]], iou_thr: float = 0.55) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of several views of one image clustered best first; each cluster's box is its members' score-weighted
    mean, its score their summed score over the number of views (a face one view missed scores lower)."""
    boxes = np.concatenate([b for b, _ in views]).reshape(-1, 4)
    scores = np.concatenate([s for _, s in views])
    fused, weighted, total = np.zeros((0, 4)), [], []
    for i in np.argsort(-scores):
        overlap = iou(boxes[i:i + 1], fused)[0] if len(fused) else np.zeros(0)
        if len(overlap) and overlap.max() > iou_thr:
            k = int(overlap.argmax())
            weighted[k] += boxes[i] * scores[i]
            total[k] += scores[i]
            fused[k] = weighted[k] / total[k]
        else:
            weighted.append(boxes[i] * scores[i])
            total.append(scores[i])
            fused = np.vstack([fused, boxes[i]])
    fused_scores = np.array(total) / len(views)
    order = np.argsort(-fused_scores)
    return fused[order], fused_scores[order]


def mirrored_detections(pipeline: MaskPipeline, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pipeline's detections on the mirror image, in the image's own coordinates."""
    boxes, scores = pipeline.detect(np.ascontiguousarray(rgb[:, ::-1]))
    boxes = boxes.copy()
    boxes[:, [0, 2]] = rgb.shape[1] - boxes[:, [2, 0]]
    return boxes, scores


def yunet_at(detect: DetectFn, rgb: np.ndarray, side: int = YUNET_SIDE) -> tuple[np.ndarray, np.ndarray]:
    factor = side / min(rgb.shape[:2])
    boxes, scores = detect(cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR))
    return boxes / factor, scores


def rescored(served: list[tuple], new_det: list[np.ndarray]) -> list[tuple]:
    return [(boxes, labels, det * probs.max(1, initial=0)) for (boxes, labels, _, probs, _), det in zip(served, new_det)]


def bootstrap_gain(images: list[VOCImage], base: list[tuple], other: list[tuple], draws: int = 200, seed: int = 0) -> tuple[float, float]:
    """5th and 95th percentiles of other's mAP@0.5 minus base's over images drawn with replacement (paired)."""
    rng, gains = np.random.default_rng(seed), []
    for _ in range(draws):
        pick = rng.integers(0, len(images), len(images))
        gt = [(images[i].boxes, images[i].labels) for i in pick]
        mean_ap = [np.nanmean(list(class_ap50(gt, [preds[i] for i in pick], CLASSES).values())) for preds in (other, base)]
        gains.append(mean_ap[0] - mean_ap[1])
    return float(np.percentile(gains, 5)), float(np.percentile(gains, 95))


def views_of(images: list[VOCImage], pipeline: MaskPipeline, larger: MaskPipeline, yunet: DetectFn) -> dict[str, list[tuple]]:
    """Per image, (boxes, scores) of our detector at 528 and 640 px, each on the image and its mirror, and of YuNet."""
    views: dict[str, list] = {"528": [], "528 mirrored": [], "640": [], "640 mirrored": [], "yunet": []}
    for im in images:
        rgb = im.load_rgb()
        for name, found in (("528", pipeline.detect(rgb)), ("528 mirrored", mirrored_detections(pipeline, rgb)), ("640", larger.detect(rgb)),
                            ("640 mirrored", mirrored_detections(larger, rgb)), ("yunet", yunet_at(yunet, rgb))):
            views[name].append(found)
    return views


def yunet_rows(served: list[tuple], agreement: list[np.ndarray]) -> dict[str, list[tuple]]:
    rows = {}
    for weight in (0.25, 0.5):
        for floor in (0.2, 0.5):
            rows[f"YuNet's agreement, weight {weight}, floor {floor}"] = rescored(
                served, [det ** (1 - weight) * (floor + (1 - floor) * a) ** weight for (*_, det), a in zip(served, agreement)])
    return rows


def fitted_rows(images: list[VOCImage], served: list[tuple], agreement: list[np.ndarray], classifier: MaskClassifier) -> dict[str, list[tuple]]:
    """The learned rescorer (with and without YuNet's agreement) and the appearance verifier, cross-fitted by image."""
    kept = [i for i, p in enumerate(served) if len(p[0])]
    x = np.concatenate([features(images[i], served[i][0], served[i][4], served[i][3], agreement[i]) for i in kept])
    y = np.concatenate([targets(images[i].boxes, served[i][0], served[i][4]) for i in kept])
    image_of = np.concatenate([np.full(len(served[i][0]), i) for i in kept])
    rows = {}
    for name, columns in (("learned rescorer, 5 folds by image", slice(None)), ("learned rescorer without YuNet", slice(0, -1))):
        p = cross_fitted(x[:, columns], y, image_of)
        rows[name] = rescored(served, [p[image_of == i] for i in range(len(images))])
    net = load_checkpoint(classifier.weights)[0]
    looks = np.concatenate([appearance(net, classifier, images[i], served[i][0]) for i in kept])
    p = cross_fitted(np.concatenate([x[:, :1], principal_components(looks, 32)], 1), y, image_of, l2=1e-2)
    rows["appearance verifier, 5 folds by image"] = rescored(served, [np.sqrt(p[image_of == i] * served[i][4]) for i in range(len(images))])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--part", choices=PARTS, default="val")
    parser.add_argument("--out", required=True, help="Markdown tables")
    args = parser.parse_args()
    images = select_part(load_data(parser, args), args.part)
    pipeline = MaskPipeline()
    views = views_of(images, pipeline, MaskPipeline(scale=640), yunet_detector())
    served = pipeline_predictions(views["528"], pipeline.classifier, images)
    agreement = [yunet_agreement(p[0], y) for p, y in zip(served, views["yunet"])]
    rows = {"served": [p[:3] for p in served]} | yunet_rows(served, agreement) | fitted_rows(images, served, agreement, pipeline.classifier)
    for scale in ("528", "640"):
        fused = [weighted_box_fusion([a, b]) for a, b in zip(views[scale], views[f"{scale} mirrored"])]
        rows[f"mirror TTA at {scale}, weighted box fusion"] = [p[:3] for p in pipeline_predictions(fused, pipeline.classifier, images)]
    lines = [f"`{pipeline.detector_name}` + `{pipeline.classifier.name}`, {args.part} part, "
             f"YuNet at short side {YUNET_SIDE}; `python -m research.rescoring --part {args.part}`", ""]
    for title, chosen in dataset_groups(images).items():
        lines += table(title, chosen, images, rows)
    lines += ["### all datasets: mAP@0.5 gained over served, 90% interval over images resampled (200 draws)", "", "| try | interval |", "|---|---|"]
    lines += ["| %s | %+.3f to %+.3f |" % ((name,) + bootstrap_gain(images, rows["served"], preds)) for name, preds in rows.items() if name != "served"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
