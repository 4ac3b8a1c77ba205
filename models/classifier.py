"""MaskClassifier: the batched `predict(crops) -> probabilities` the pipeline and the service call."""
from pathlib import Path

import numpy as np
import torch

from models.checkpoint import ClassifierSpec, load_checkpoint, sha256_of
from models.crops import crop_faces, to_tensor

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "classifier.pt"


class MaskClassifier:
    """A loaded classifier checkpoint: crops in, calibrated class probabilities out."""

    def __init__(self, weights: str | Path = DEFAULT_WEIGHTS, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model, self.spec = load_checkpoint(weights, self.device)
        self.sha256 = sha256_of(weights)
        self.bias = torch.tensor(self.spec.logit_bias, dtype=torch.float32, device=self.device)
        if self.device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)

    @property
    def name(self) -> str:
        return f"{self.spec.arch}@{self.sha256[:12]}"

    @torch.inference_mode()
    def predict(self, crops: np.ndarray) -> np.ndarray:
        """uint8 RGB crops (N, S, S, 3) at `spec.input_size` -> probabilities (N, 3) in `spec.classes` order.

        probabilities = softmax(logits / temperature + logit_bias), both fitted on validation data.
        """
        if len(crops) == 0:
            return np.zeros((0, len(self.spec.classes)), dtype=np.float32)
        x = to_tensor(crops).to(self.device)
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self.model(x)
        if self.spec.flip_tta:
            logits = (logits + self.model(x.flip(3))) / 2
        return torch.softmax(logits.float() / self.spec.temperature + self.bias, dim=1).cpu().numpy()

    def predict_boxes(self, image_rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Crop `boxes` out of an RGB image the way the classifier was trained, then `predict` them."""
        return self.predict(crop_faces(image_rgb, boxes, self.spec.input_size, self.spec.margin))


__all__ = ["ClassifierSpec", "DEFAULT_WEIGHTS", "MaskClassifier"]
