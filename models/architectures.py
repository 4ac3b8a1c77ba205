"""Face classifiers: the paper's custom CNN in four variants and torchvision's ImageNet architectures."""
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torchvision import models as tvm

from models.labels import CLASSES

NUM_CLASSES = len(CLASSES)


class CustomCNN(nn.Module):
    """The paper's small CNN (Fig. 3): three conv blocks, then two fully connected layers.

    The paper gives its figure but not its layer sizes; this is our reading of it: 3x3 convs of
    32, 64 and 128 channels, each followed by the activation, optional BatchNorm and 2x2 max-pool.
    """

    def __init__(self, activation: str = "relu", batchnorm: bool = False, num_classes: int = NUM_CLASSES):
        super().__init__()
        act: Callable[[], nn.Module] = {"relu": lambda: nn.ReLU(inplace=True), "tanh": nn.Tanh}[activation]
        layers: list[nn.Module] = []
        channels = [3, 32, 64, 128]
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), act()]
            if batchnorm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128 * 16, 256), act(), nn.Dropout(0.3), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


def _resnet(builder: Callable, weights, two_fc: bool = False) -> Callable[[bool], nn.Module]:
    def build(pretrained: bool) -> nn.Module:
        net = builder(weights=weights if pretrained else None)
        width = net.fc.in_features
        net.fc = nn.Sequential(nn.Linear(width, 256), nn.ReLU(inplace=True), nn.Linear(256, NUM_CLASSES)) if two_fc else nn.Linear(width, NUM_CLASSES)
        return net
    build.weights = weights
    return build


def _vgg(builder: Callable, weights) -> Callable[[bool], nn.Module]:
    def build(pretrained: bool) -> nn.Module:
        net = builder(weights=weights if pretrained else None)
        net.classifier[-1] = nn.Linear(net.classifier[-1].in_features, NUM_CLASSES)
        return net
    build.weights = weights
    return build


def _densenet(builder: Callable, weights) -> Callable[[bool], nn.Module]:
    def build(pretrained: bool) -> nn.Module:
        net = builder(weights=weights if pretrained else None)
        net.classifier = nn.Linear(net.classifier.in_features, NUM_CLASSES)
        return net
    build.weights = weights
    return build


def _mobilenet(pretrained: bool) -> nn.Module:
    net = tvm.mobilenet_v2(weights=tvm.MobileNet_V2_Weights.IMAGENET1K_V1 if pretrained else None)
    net.classifier[-1] = nn.Linear(net.classifier[-1].in_features, NUM_CLASSES)
    return net


_mobilenet.weights = tvm.MobileNet_V2_Weights.IMAGENET1K_V1


def _custom(activation: str, batchnorm: bool) -> Callable[[bool], nn.Module]:
    def build(pretrained: bool) -> nn.Module:
        if pretrained:
            raise ValueError("the custom CNN has no pretrained weights; drop --pretrained")
        return CustomCNN(activation, batchnorm)
    build.weights = None
    return build


ARCHITECTURES: dict[str, Callable[[bool], nn.Module]] = {
    "custom_relu": _custom("relu", False),
    "custom_relu_bn": _custom("relu", True),
    "custom_tanh": _custom("tanh", False),
    "custom_tanh_bn": _custom("tanh", True),
    "resnet18": _resnet(tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1),
    "resnet18_2fc": _resnet(tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1, two_fc=True),
    "resnet34": _resnet(tvm.resnet34, tvm.ResNet34_Weights.IMAGENET1K_V1),
    "vgg16": _vgg(tvm.vgg16, tvm.VGG16_Weights.IMAGENET1K_V1),
    "vgg16_bn": _vgg(tvm.vgg16_bn, tvm.VGG16_BN_Weights.IMAGENET1K_V1),
    "vgg19": _vgg(tvm.vgg19, tvm.VGG19_Weights.IMAGENET1K_V1),
    "vgg19_bn": _vgg(tvm.vgg19_bn, tvm.VGG19_BN_Weights.IMAGENET1K_V1),
    "densenet121": _densenet(tvm.densenet121, tvm.DenseNet121_Weights.IMAGENET1K_V1),
    "densenet161": _densenet(tvm.densenet161, tvm.DenseNet161_Weights.IMAGENET1K_V1),
    "densenet201": _densenet(tvm.densenet201, tvm.DenseNet201_Weights.IMAGENET1K_V1),
    "mobilenet_v2": _mobilenet,
}


class PretrainedWeightsUnavailable(RuntimeError):
    """ImageNet weights are neither in the torch hub cache nor downloadable."""


def pretrained_path(arch: str) -> Path | None:
    """Where torchvision caches `arch`'s ImageNet weights, or None for an architecture without any."""
    weights = ARCHITECTURES[arch].weights
    if weights is None:
        return None
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def pretrained_available(arch: str) -> bool:
    """True when `arch`'s ImageNet weights are already in the torch hub cache (no download needed)."""
    path = pretrained_path(arch)
    return path is not None and path.is_file()


def build_classifier(arch: str, pretrained: bool = False) -> nn.Module:
    """Build `arch` with a 3-way head; with `pretrained`, its backbone starts from ImageNet weights."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    try:
        return ARCHITECTURES[arch](pretrained)
    except OSError as err:
        if not pretrained:
            raise
        raise PretrainedWeightsUnavailable(
            f"ImageNet weights for {arch} are not in {pretrained_path(arch)} and could not be downloaded ({err}). "
            f"Copy {Path(ARCHITECTURES[arch].weights.url).name} there, or train from scratch without --pretrained."
        ) from err


__all__ = ["ARCHITECTURES", "CustomCNN", "PretrainedWeightsUnavailable", "build_classifier", "pretrained_available"]
