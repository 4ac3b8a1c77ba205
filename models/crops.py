"""Cut face crops out of an image: the one preprocessing used by training, evaluation and the service."""
from typing import TYPE_CHECKING

import cv2
import numpy as np

from models.labels import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    import torch


def expand_box(box: np.ndarray, margin: float, width: int, height: int) -> np.ndarray:
    """Grow an [x1, y1, x2, y2] box by `margin` of its size on every side, clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return np.array([max(0.0, x1 - dx), max(0.0, y1 - dy), min(float(width), x2 + dx), min(float(height), y2 + dy)])


def crop_faces(image_rgb: np.ndarray, boxes: np.ndarray, size: int, margin: float = 0.0) -> np.ndarray:
    """Return uint8 crops of shape (N, size, size, 3), each box grown by `margin` and resized to a square."""
    height, width = image_rgb.shape[:2]
    crops = np.zeros((len(boxes), size, size, 3), dtype=np.uint8)
    for i, box in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)):
        x1, y1, x2, y2 = expand_box(box, margin, width, height)
        x1, y1 = int(np.floor(x1)), int(np.floor(y1))
        x2, y2 = max(int(np.ceil(x2)), x1 + 1), max(int(np.ceil(y2)), y1 + 1)
        patch = image_rgb[y1:y2, x1:x2]
        if patch.size == 0:
            continue
        interp = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
        crops[i] = cv2.resize(patch, (size, size), interpolation=interp)
    return crops


def normalise(crops: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) RGB crops -> float32 (N, 3, H, W) normalised with ImageNet mean/std, in numpy."""
    x = crops.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
    return (x - np.float32(IMAGENET_MEAN).reshape(1, 3, 1, 1)) / np.float32(IMAGENET_STD).reshape(1, 3, 1, 1)


def to_tensor(crops: "np.ndarray | torch.Tensor") -> "torch.Tensor":
    """uint8 (N, H, W, 3) RGB crops -> float (N, 3, H, W) normalised with ImageNet mean/std, on the crops' device."""
    import torch  # here, not above: the torch-free pipeline (models/ir_pipeline.py) crops with this module

    if isinstance(crops, np.ndarray):
        crops = torch.from_numpy(np.ascontiguousarray(crops))
    x = crops.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
