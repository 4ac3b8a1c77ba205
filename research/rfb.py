"""The "Ultra-Light-Fast" RFB SSD trained on WIDER FACE + MAFA (background / face / masked_face), written to
load the MIT-licensed weights in ../shared/pretrained.

Layer names follow the state dict and the upstream network (Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB,
`Mb_Tiny_RFB` and its SSD); priors follow its `fd_config`: boxes of 10-24, 32-48, 64-96 and 128-256 px at
strides 8/16/32/64, variances 0.1 / 0.2; input RGB, (x - 127) / 128. A face's score is 1 - p(background).
"""
import numpy as np
import torch
from torch import nn

from research.anchor_boxes import faces_in_pixels

MIN_BOXES = ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256))
STEPS = (8, 16, 32, 64)


def conv_bn(inp: int, oup: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU())


def conv_dw(inp: int, oup: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp), nn.ReLU(),
                         nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU())


class BasicConv(nn.Module):
    def __init__(self, inp: int, oup: int, kernel: int, padding: int = 0, dilation: int = 1, relu: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(inp, oup, kernel, 1, padding, dilation, bias=False)
        self.bn = nn.BatchNorm2d(oup)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return torch.relu(x) if self.relu else x


class BasicRFB(nn.Module):
    """Receptive-field block: three branches dilated 2, 3 and 5, concatenated, projected, plus a shortcut."""

    def __init__(self, planes: int = 64):
        super().__init__()
        inter = planes // 8
        self.branch0 = nn.Sequential(BasicConv(planes, inter, 1, relu=False), BasicConv(inter, 2 * inter, 3, 1),
                                     BasicConv(2 * inter, 2 * inter, 3, 2, 2, relu=False))
        self.branch1 = nn.Sequential(BasicConv(planes, inter, 1, relu=False), BasicConv(inter, 2 * inter, 3, 1),
                                     BasicConv(2 * inter, 2 * inter, 3, 3, 3, relu=False))
        self.branch2 = nn.Sequential(BasicConv(planes, inter, 1, relu=False), BasicConv(inter, inter // 2 * 3, 3, 1),
                                     BasicConv(inter // 2 * 3, 2 * inter, 3, 1), BasicConv(2 * inter, 2 * inter, 3, 5, 5, relu=False))
        self.ConvLinear = BasicConv(6 * inter, planes, 1, relu=False)
        self.shortcut = BasicConv(planes, planes, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.ConvLinear(torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1))
        return torch.relu(out + self.shortcut(x))


def separable(inp: int, oup: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp), nn.ReLU(), nn.Conv2d(inp, oup, 1))


class RFBDetector(nn.Module):
    def __init__(self, classes: int = 3, base: int = 16):
        super().__init__()
        self.classes = classes
        self.base_net = nn.Sequential(
            conv_bn(3, base, 2), conv_dw(base, 2 * base, 1), conv_dw(2 * base, 2 * base, 2), conv_dw(2 * base, 2 * base, 1),
            conv_dw(2 * base, 4 * base, 2), conv_dw(4 * base, 4 * base, 1), conv_dw(4 * base, 4 * base, 1), BasicRFB(4 * base),
            conv_dw(4 * base, 8 * base, 2), conv_dw(8 * base, 8 * base, 1), conv_dw(8 * base, 8 * base, 1),
            conv_dw(8 * base, 16 * base, 2), conv_dw(16 * base, 16 * base, 1))
        self.extras = nn.ModuleList([nn.Sequential(nn.Conv2d(16 * base, 4 * base, 1), nn.ReLU(), separable(4 * base, 16 * base, 2), nn.ReLU())])
        channels = (4 * base, 8 * base, 16 * base)
        self.classification_headers = nn.ModuleList([*(separable(c, len(b) * classes) for c, b in zip(channels, MIN_BOXES)),
                                                     nn.Conv2d(16 * base, len(MIN_BOXES[3]) * classes, 3, padding=1)])
        self.regression_headers = nn.ModuleList([*(separable(c, len(b) * 4) for c, b in zip(channels, MIN_BOXES)),
                                                 nn.Conv2d(16 * base, len(MIN_BOXES[3]) * 4, 3, padding=1)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box offsets (N, A, 4) and face scores (N, A) for every prior of `priors`."""
        feats = []
        for start, end in ((0, 8), (8, 11), (11, 13)):
            x = self.base_net[start:end](x)
            feats.append(x)
        feats.append(self.extras[0](x))
        n = x.shape[0]
        conf = torch.cat([h(f).permute(0, 2, 3, 1).reshape(n, -1, self.classes) for h, f in zip(self.classification_headers, feats)], 1)
        loc = torch.cat([h(f).permute(0, 2, 3, 1).reshape(n, -1, 4) for h, f in zip(self.regression_headers, feats)], 1)
        return loc, 1 - conf.softmax(-1)[..., 0]


def load_rfb(path: str) -> RFBDetector:
    model = RFBDetector()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def detect_faces(model: RFBDetector, rgb: np.ndarray, floor: float = 0.05, nms_iou: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) in `rgb`'s pixels and face scores, best first."""
    height, width = rgb.shape[:2]
    x = (torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)) - 127) / 128
    loc, score = model(x.permute(2, 0, 1)[None])
    return faces_in_pixels(loc[0], score[0], height, width, MIN_BOXES, STEPS, True, floor, nms_iou)
