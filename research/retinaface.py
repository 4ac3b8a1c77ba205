"""RetinaFace with a MobileNet-0.25 body (WIDER FACE), written to load the MIT-licensed weights in ../shared/pretrained.

The layer names follow the state dict and the upstream network (biubug6/Face-Detector-1MB-with-landmark);
anchors and box coding follow its `data/config.py` `cfg_mnet`: sizes 10/20, 32/64, 128/256 px at strides
8/16/32, variances 0.1 / 0.2; input BGR minus (104, 117, 123); every activation a plain ReLU (its `net.py`).
The landmark heads are loaded with the weights but not run.
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from research.anchor_boxes import faces_in_pixels

MIN_SIZES = ((10, 20), (32, 64), (128, 256))
STEPS = (8, 16, 32)
BGR_MEAN = (104.0, 117.0, 123.0)


def conv_bn(inp: int, oup: int, stride: int = 1, relu: bool = True, kernel: int = 3) -> nn.Sequential:
    layers = [nn.Conv2d(inp, oup, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(oup)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


def conv_dw(inp: int, oup: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp), nn.ReLU(),
                         nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU())


class Body(nn.Module):
    """MobileNetV1 x0.25, its three stages' outputs (64, 128, 256 channels at strides 8, 16, 32)."""

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(conv_bn(3, 8, 2), conv_dw(8, 16, 1), conv_dw(16, 32, 2), conv_dw(32, 32, 1),
                                    conv_dw(32, 64, 2), conv_dw(64, 64, 1))
        self.stage2 = nn.Sequential(conv_dw(64, 128, 2), *[conv_dw(128, 128, 1) for _ in range(5)])
        self.stage3 = nn.Sequential(conv_dw(128, 256, 2), conv_dw(256, 256, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return [c1, c2, self.stage3(c2)]


class FPN(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (64, 128, 256), out: int = 64):
        super().__init__()
        self.output1, self.output2, self.output3 = (conv_bn(c, out, kernel=1) for c in channels)
        self.merge1, self.merge2 = conv_bn(out, out), conv_bn(out, out)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        o1, o2, o3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[2:], mode="nearest"))
        return [o1, o2, o3]


class SSH(nn.Module):
    """Context module: 3x3, 5x5 and 7x7 receptive fields (stacked 3x3 convs), concatenated."""

    def __init__(self, inp: int = 64, out: int = 64):
        super().__init__()
        self.conv3X3 = conv_bn(inp, out // 2, relu=False)
        self.conv5X5_1 = conv_bn(inp, out // 4)
        self.conv5X5_2 = conv_bn(out // 4, out // 4, relu=False)
        self.conv7X7_2 = conv_bn(out // 4, out // 4)
        self.conv7x7_3 = conv_bn(out // 4, out // 4, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c5_1 = self.conv5X5_1(x)
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(c5_1), self.conv7x7_3(self.conv7X7_2(c5_1))], 1))


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
