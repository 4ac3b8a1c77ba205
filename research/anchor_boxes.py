"""SSD-style anchors and box decoding, shared by the RetinaFace and RFB baselines (both use variances 0.1 / 0.2)."""
import itertools
import math

import numpy as np
import torch
from torchvision.ops import nms

VARIANCES = (0.1, 0.2)


def priors(height: int, width: int, sizes_per_level: tuple, steps: tuple, clip: bool) -> torch.Tensor:
    """Anchors (A, 4) as centre x, centre y, width, height, relative to the image size; `clip`: clamped to [0, 1]."""
    out = []
    for sizes, step in zip(sizes_per_level, steps):
        for i, j in itertools.product(range(math.ceil(height / step)), range(math.ceil(width / step))):
            out += [[(j + 0.5) * step / width, (i + 0.5) * step / height, s / width, s / height] for s in sizes]
    anchors = torch.tensor(out)
    return anchors.clamp(0, 1) if clip else anchors


def faces_in_pixels(loc: torch.Tensor, score: torch.Tensor, height: int, width: int, sizes_per_level: tuple, steps: tuple,
                    clip: bool, floor: float, nms_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """One image's offsets (A, 4) and face scores (A,) decoded against its anchors: boxes in pixels and scores,
    those >= `floor` after NMS, best first."""
    anchors = priors(height, width, sizes_per_level, steps, clip)
    centre = anchors[:, :2] + loc[:, :2] * VARIANCES[0] * anchors[:, 2:]
    size = anchors[:, 2:] * torch.exp(loc[:, 2:] * VARIANCES[1])
    boxes = torch.cat([centre - size / 2, centre + size / 2], 1) * torch.tensor([width, height, width, height])
    keep = score >= floor
    boxes, score = boxes[keep], score[keep]
    kept = nms(boxes, score, nms_iou)
    return boxes[kept].numpy().astype(np.float64), score[kept].numpy().astype(np.float64)
