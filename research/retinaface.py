"""RetinaFace with a MobileNet-0.25 body (WIDER FACE), written to load the MIT-licensed weights in ../shared/pretrained.

The layer names follow the state dict and the upstream network (biubug6/Face-Detector-1MB-with-landmark);
anchors and box coding follow its `data/config.py` `cfg_mnet`: sizes 10/20, 32/64, 128/256 px at strides
8/16/32, variances 0.1 / 0.2; input BGR minus (104, 117, 123); every activation a plain ReLU (its `net.py`).
The landmark heads are loaded with the weights but not run. Body, FPN and SSH modules are models/retinaface_body.py's,
the shipped detector's body.
"""
import numpy as np
import torch
from torch import nn

from models.retinaface_body import BGR_MEAN, FPN, SSH, STRIDES, Body
from research.anchor_boxes import faces_in_pixels

MIN_SIZES = ((10, 20), (32, 64), (128, 256))
STEPS = STRIDES


class Head(nn.Module):
    def __init__(self, values: int, anchors: int = 2, channels: int = 64):
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(channels, anchors * values, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1x1(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.values)


class RetinaFace(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.fpn = Body(), FPN()
        self.ssh1, self.ssh2, self.ssh3 = SSH(), SSH(), SSH()
        self.ClassHead = nn.ModuleList(Head(2) for _ in STEPS)
        self.BboxHead = nn.ModuleList(Head(4) for _ in STEPS)
        self.LandmarkHead = nn.ModuleList(Head(10) for _ in STEPS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box offsets (N, A, 4) and face probabilities (N, A) for every anchor of `priors`."""
        feats = [ssh(f) for ssh, f in zip((self.ssh1, self.ssh2, self.ssh3), self.fpn(self.body(x)))]
        loc = torch.cat([h(f) for h, f in zip(self.BboxHead, feats)], 1)
        conf = torch.cat([h(f) for h, f in zip(self.ClassHead, feats)], 1)
        return loc, conf.softmax(-1)[..., 1]


def load_retinaface(path: str) -> RetinaFace:
    model = RetinaFace()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def detect_faces(model: RetinaFace, rgb: np.ndarray, floor: float = 0.05, nms_iou: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) in `rgb`'s pixels and face scores, best first."""
    height, width = rgb.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(rgb[:, :, ::-1], dtype=np.float32)) - torch.tensor(BGR_MEAN)
    loc, score = model(x.permute(2, 0, 1)[None])
    return faces_in_pixels(loc[0], score[0], height, width, MIN_SIZES, STEPS, False, floor, nms_iou)
