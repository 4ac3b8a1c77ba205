"""Detection metrics: VOC all-point AP@0.5 per class, COCO-style mAP@[.5:.95], face AP, recall by size.

Every function takes per-image lists: ground truth (boxes, labels) and predictions (boxes, labels, scores).
"""
import numpy as np
import torch
from torchvision.ops import box_iou

COCO_THRESHOLDS = np.round(np.arange(0.5, 0.96, 0.05), 2)
SIZE_BUCKETS = {"<16px": (0, 16), "16-32px": (16, 32), ">32px": (32, np.inf)}


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of two arrays of x1, y1, x2, y2 boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return box_iou(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)).numpy()


def match(gts: list[np.ndarray], preds: list[tuple[np.ndarray, np.ndarray]], iou_thr: float):
    """Greedy VOC matching over all images, highest score first.

    gts: per image, gt boxes (G, 4). preds: per image, (boxes (P, 4), scores (P,)).
    Returns (scores, is_true_positive) over all predictions sorted by score, the number of gt boxes,
    and per image a boolean array of which gt boxes were found.
    """
    records = [(s, i, j) for i, (_, scores) in enumerate(preds) for j, s in enumerate(scores)]
    records.sort(key=lambda r: -r[0])
    ious = [iou(p[0], g) for p, g in zip(preds, gts)]
    found = [np.zeros(len(g), dtype=bool) for g in gts]
    tp = np.zeros(len(records), dtype=bool)
    for k, (_, i, j) in enumerate(records):
        if ious[i].shape[1] == 0:
            continue
        best = int(ious[i][j].argmax())
        if ious[i][j, best] >= iou_thr and not found[i][best]:
            found[i][best] = True
            tp[k] = True
    return np.array([r[0] for r in records]), tp, sum(len(g) for g in gts), found


def _precision_recall(tp: np.ndarray, n_gt: int) -> tuple[np.ndarray, np.ndarray]:
    ctp = np.cumsum(tp)
    recall = ctp / max(n_gt, 1)
    precision = ctp / np.arange(1, len(tp) + 1)
    return precision, recall


def voc_ap(tp: np.ndarray, n_gt: int) -> float:
    """Area under the precision envelope, all-point interpolation (VOC 2010 and later)."""
    if n_gt == 0:
        return float("nan")
    precision, recall = _precision_recall(tp, n_gt)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def coco_ap(tp: np.ndarray, n_gt: int) -> float:
    """COCO's 101-point interpolated AP at one IoU threshold."""
    if n_gt == 0:
        return float("nan")
    precision, recall = _precision_recall(tp, n_gt)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    points = np.linspace(0, 1, 101)
    idx = np.searchsorted(recall, points, side="left")
    return float(np.mean([envelope[i] if i < len(envelope) else 0.0 for i in idx]))


def _per_class(gt, pred, c, class_scores=None):
    gts = [b[lab == c] for b, lab in gt]
    if class_scores is None:
        preds = [(b[lab == c], s[lab == c]) for b, lab, s in pred]
    else:
        preds = [(b, scores[:, c]) for (b, _, _), scores in zip(pred, class_scores)]
    return gts, preds


def class_ap50(gt: list[tuple[np.ndarray, np.ndarray]], pred: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
               class_names: tuple[str, ...], class_scores: list[np.ndarray] | None = None) -> dict[str, float]:
    """VOC AP@0.5 per class: each box in its own label only, or with class_scores (per image (P, C)) every box
    ranked in every class by its score for that class, as detectors that emit one box per class are scored."""
    out = {}
    for c, name in enumerate(class_names):
        gts, preds = _per_class(gt, pred, c, class_scores)
        _, tp, n, _ = match(gts, preds, 0.5)
        out[name] = voc_ap(tp, n)
    return out


def evaluate_detections(gt: list[tuple[np.ndarray, np.ndarray]], pred: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                        num_classes: int = 3, class_names: tuple[str, ...] | None = None) -> dict:
    """All the pipeline metrics: per-class AP@0.5 and mAP@0.5 (VOC), mAP@[.5:.95] (COCO 101-point),
    class-agnostic face AP@0.5 and recall, and recall by face size (sqrt of box area)."""
    names = class_names or tuple(str(c) for c in range(num_classes))
    per_class = class_ap50(gt, pred, names)
    coco = []
    for c in range(num_classes):
        gts, preds = _per_class(gt, pred, c)
        n = sum(len(g) for g in gts)
        coco.append(np.nanmean([coco_ap(match(gts, preds, t)[1], n) for t in COCO_THRESHOLDS]))
    agnostic_gts = [b for b, _ in gt]
    agnostic_preds = [(b, s) for b, _, s in pred]
    _, tp, n, found = match(agnostic_gts, agnostic_preds, 0.5)
    sizes = np.concatenate([np.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])) for b in agnostic_gts]) if n else np.zeros(0)
    hit = np.concatenate(found) if n else np.zeros(0, bool)
    by_size = {name: {"faces": int(((sizes >= lo) & (sizes < hi)).sum()),
                      "recall": float(hit[(sizes >= lo) & (sizes < hi)].mean()) if ((sizes >= lo) & (sizes < hi)).any() else float("nan")}
               for name, (lo, hi) in SIZE_BUCKETS.items()}
    return {"ap50": per_class, "map50": float(np.nanmean(list(per_class.values()))), "map50_95": float(np.nanmean(coco)),
            "face_ap50": voc_ap(tp, n), "face_recall50": float(hit.mean()) if n else float("nan"),
            "recall_by_size": by_size, "faces": int(n)}


def face_ap50(gt_boxes: list[np.ndarray], preds: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Class-agnostic VOC AP@0.5 of per-image (boxes, scores)."""
    _, tp, n, _ = match(gt_boxes, preds, 0.5)
    return voc_ap(tp, n)


def ignored(gt_boxes: np.ndarray, ignore_boxes: np.ndarray, pred_boxes: np.ndarray, iou_thr: float = 0.5) -> np.ndarray:
    """Which predictions fall on an ignore region (an unannotated real face): IoU >= `iou_thr` with one of
    `ignore_boxes` and under it with every ground-truth box. As VOC's "difficult" faces, they count neither
    as true nor as false positives."""
    if len(ignore_boxes) == 0 or len(pred_boxes) == 0:
        return np.zeros(len(pred_boxes), dtype=bool)
    on_ignore = iou(pred_boxes, ignore_boxes).max(1) >= iou_thr
    on_gt = iou(pred_boxes, gt_boxes).max(1) >= iou_thr if len(gt_boxes) else np.zeros(len(pred_boxes), dtype=bool)
    return on_ignore & ~on_gt


def pr_curve(gt_boxes: list[np.ndarray], preds: list[tuple[np.ndarray, np.ndarray]], iou_thr: float = 0.5):
    """Precision and recall arrays along the score-sorted predictions (for plotting)."""
    _, tp, n, _ = match(gt_boxes, preds, iou_thr)
    return _precision_recall(tp, n)
