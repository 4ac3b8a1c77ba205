"""The shipped detector's body: RetinaFace-MobileNet0.25's body, FPN and SSH context modules, pretrained on
WIDER FACE (biubug6/Face-Detector-1MB-with-landmark, MIT; weights in ../shared/pretrained), read by FCOS.

Layer names follow RetinaFace's state dict, so its weights load as they are; its class, box and landmark heads
are not part of the body. Every activation is a plain ReLU (its `net.py`); BatchNorm is frozen (detector batches
are 4 images). RetinaFace reads BGR minus (104, 117, 123): FCOS normalises with those means in RGB order over
255 and std 1/255, and the body flips the channels.
"""
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops.misc import FrozenBatchNorm2d

STRIDES = (8, 16, 32)
BGR_MEAN = (104.0, 117.0, 123.0)
IMAGE_MEAN, IMAGE_STD = tuple(m / 255 for m in BGR_MEAN[::-1]), (1 / 255,) * 3


def conv_bn(inp: int, oup: int, stride: int = 1, relu: bool = True, kernel: int = 3) -> nn.Sequential:
    layers = [nn.Conv2d(inp, oup, kernel, stride, kernel // 2, bias=False), FrozenBatchNorm2d(oup)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


def conv_dw(inp: int, oup: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), FrozenBatchNorm2d(inp), nn.ReLU(),
                         nn.Conv2d(inp, oup, 1, 1, 0, bias=False), FrozenBatchNorm2d(oup), nn.ReLU())


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


class RetinaFaceFeatures(nn.Module):
    """Body, FPN and one SSH module per level: three 64-channel levels at strides 8, 16, 32."""

    strides, image_mean, image_std, out_channels = STRIDES, IMAGE_MEAN, IMAGE_STD, 64

    def __init__(self):
        super().__init__()
        self.body, self.fpn = Body(), FPN()
        self.ssh = nn.ModuleList(SSH() for _ in STRIDES)

    def load_face_detector(self, path: str | Path) -> None:
        """RetinaFace's body, FPN and SSH modules from its state dict (`ssh1..3` are `ssh.0..2` here)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        for name, module in (("body", self.body), ("fpn", self.fpn), *((f"ssh{i + 1}", s) for i, s in enumerate(self.ssh))):
            module.load_state_dict({k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")})

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        levels = self.fpn(self.body(x.flip(1)))
        return OrderedDict((f"p{i}", ssh(f)) for i, (ssh, f) in enumerate(zip(self.ssh, levels)))
