"""MaskClassifier: the batched `predict(crops) -> probabilities` the pipeline and the service call."""
from pathlib import Path

import numpy as np
import torch
from torch.fx.experimental.optimization import fuse

from models.checkpoint import ClassifierSpec, load_checkpoint
from models.crops import crop_faces, to_tensor
from models.defaults import DEFAULT_CLASSIFIER as DEFAULT_WEIGHTS
from models.digest import sha256_of
from models.runtime import compile_network


def bucket(count: int) -> int:
    """The padded batch size for `count` crops on CUDA: the next power of two, at least 8."""
    return max(8, 1 << (count - 1).bit_length())


class MaskClassifier:
    """A loaded classifier checkpoint: crops in, calibrated class probabilities out."""

    def __init__(self, weights: str | Path = DEFAULT_WEIGHTS, device: str | torch.device = "cpu", precision: str = "fp32",
                 backend: str = "torch"):
        """`precision` fp16 runs in half precision on CUDA, bf16 with OpenVINO; `backend` torch, openvino or
        onnxruntime, as `models.plan.resolve_plan` chose it (a runtime that cannot load the network raises BackendError)."""
        self.device = torch.device(device)
        self.half = precision == "fp16" and self.device.type == "cuda"  # fp16 weights; CUDA only
        self.backend = backend
        model, self.spec = load_checkpoint(weights, self.device)
        self.model = fuse(model)  # BatchNorm folded into the conv before it: half the CPU time, same outputs
        self.weights = Path(weights)
        self.sha256 = sha256_of(weights)
        self.bias = torch.tensor(self.spec.logit_bias, dtype=torch.float32, device=self.device)
        # channels-last speeds torch up on a CPU; a runtime takes plain NCHW, so converting would only add a copy
        self.channels_last = self.device.type == "cpu" and self.backend == "torch"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if self.half:
            self.model = self.model.half()
        if self.backend != "torch":
            size = self.spec.input_size
            run = compile_network(self.model, torch.zeros(1, 3, size, size), ["logits"], self.backend, torch.get_num_threads(),
                                  precision)
            self.model = lambda x: run(x)[0]

    @property
    def name(self) -> str:
        return f"{self.spec.arch}@{self.sha256[:12]}"

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    @torch.inference_mode()
    def predict(self, crops: np.ndarray) -> np.ndarray:
        """uint8 RGB crops (N, S, S, 3) at `spec.input_size` -> probabilities (N, 3) in `spec.classes` order.

        probabilities = softmax(logits / temperature + logit_bias), both fitted on validation data.
        """
        if len(crops) == 0:
            return np.zeros((0, len(self.spec.classes)), dtype=np.float32)
        count = len(crops)
        if self.device.type == "cuda":  # pad to a bucket: cuDNN builds kernels per batch shape, slowly
            crops = np.concatenate([crops, np.zeros((bucket(count) - count, *crops.shape[1:]), crops.dtype)])
        x = to_tensor(torch.from_numpy(np.ascontiguousarray(crops)).to(self.device))  # uint8 travels, 4x fewer bytes
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.half:
            x = x.half()
        if self.spec.flip_tta:  # both views in one batch: one pass through the network instead of two
            logits = self.model(torch.cat([x, x.flip(3)])).float().view(2, len(x), -1).mean(0)
        else:
            logits = self.model(x).float()
        return torch.softmax(logits[:count] / self.spec.temperature + self.bias, dim=1).cpu().numpy()

    def warm_up(self, most_faces: int = 512) -> None:
        """Classify once at every batch shape up to `most_faces` (one shape on CPU)."""
        size = self.spec.input_size
        for n in sorted({bucket(n) for n in range(1, most_faces + 1)} if self.device.type == "cuda" else {1}):
            self.predict(np.zeros((n, size, size, 3), np.uint8))

    def crops(self, image_rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """`boxes` cut out of an RGB image the way the classifier was trained."""
        return crop_faces(image_rgb, boxes, self.spec.input_size, self.spec.margin)

    def predict_boxes(self, image_rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Crop `boxes` out of an RGB image, then `predict` them."""
        return self.predict(self.crops(image_rgb, boxes))


__all__ = ["ClassifierSpec", "DEFAULT_WEIGHTS", "MaskClassifier"]
