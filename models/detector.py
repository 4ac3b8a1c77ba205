"""The face detector: FCOS (anchor-free, one box per feature location) on the body of a face detector pretrained
on WIDER FACE (models/retinaface_body.py), or on an ImageNet MobileNetV2 FPN (`DetectorSpec.body`).

Faces here are small (median 22 px in ~400x300 images), so the input is upscaled (`min_size`) and
the finest pyramid level is stride 8 (MobileNetV2 block 6); the 1280-channel last conv is dropped.
"""
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.fcos import FCOSHead
from torchvision.ops import boxes as box_ops
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from models.checkpoint import read_weights, write_weights
from models.defaults import pad32
from models.digest import sha256_of
from models.retinaface_body import RetinaFaceFeatures

FORMAT = "maskwatch-detector/1"
# Output channels and stride of the last MobileNetV2 block of each stage: the candidate pyramid inputs.
BLOCKS = {3: (24, 4), 6: (32, 8), 13: (96, 16), 17: (320, 32)}
BODIES = ("mobilenet_v2", "retinaface")
IGNORE = -1  # a training box's label for a face nobody annotated: its locations count as neither face nor background


@dataclass
class DetectorSpec:
    """How a detector was built and at what scale it reads images."""

    num_classes: int = 1
    min_size: int = 384
    max_size: int = 512
    levels: tuple[int, ...] = (6, 13, 17)
    fpn_channels: int = 64
    head_convs: int = 2
    head_separable: bool = False  # each head convolution depthwise 3x3 then pointwise 1x1: a fraction of the arithmetic
    body: str = "mobilenet_v2"  # or "retinaface", a face detector's (models/retinaface_body.py); `levels` are MobileNetV2's
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    detections_per_img: int = 300
    meta: dict = field(default_factory=dict)


class DetectorNetwork(nn.Module):
    """The detector's convolutions (backbone, pyramid and head): what a CPU runtime runs (models/runtime.py)."""

    OUTPUTS = ["cls_logits", "bbox_regression", "bbox_ctrness"]

    def __init__(self, model: FCOS):
        super().__init__()
        self.backbone, self.head = model.backbone, model.head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.head(list(self.backbone(x).values()))
        return tuple(out[k] for k in self.OUTPUTS)


class FaceFCOS(FCOS):
    """FCOS that returns faces: each location scored by its best class and suppressed across classes, so one face
    is one box, with the detector's normalised per-class scores kept as `class_scores` (N, C). torchvision's FCOS
    suppresses per class, which can return one face under two labels. With one class the two are the same.

    Post-processing runs on the whole batch at once (one top-k per level, one suppression, one host sync for
    the candidates) rather than per image and level as torchvision's does: on a GPU each small op is a kernel launch, and each
    `torch.where` a sync, which per image would cost more than the convolutions of a micro-batch.
    """

    network: Callable[[torch.Tensor], tuple[torch.Tensor, ...]] | None = None  # set by `use_runtime`
    strides: tuple[int, ...] = ()  # of each pyramid level, finest first

    def use_runtime(self, compile_network: Callable[[nn.Module, torch.Tensor, list[str]], Callable],
                    read_size: tuple[int, int]) -> None:
        """Run backbone, pyramid and head with `compile_network(module, example, outputs)` (models/runtime.py),
        exported at `read_size` (short, long side), padded as the transform pads it."""
        short, long = (pad32(side) for side in read_size)
        self.network = compile_network(DetectorNetwork(self), torch.zeros(1, 3, short, long), DetectorNetwork.OUTPUTS)

    def forward(self, images, targets=None):
        if self.training or self.network is None:
            return super().forward(images, targets)
        return self._forward_network(images)

    def compute_loss(self, targets: list[dict[str, torch.Tensor]], head_outputs: dict[str, torch.Tensor],
                     anchors: list[torch.Tensor], num_anchors_per_level: list[int]) -> dict[str, torch.Tensor]:
        """FCOS's loss, but boxes labelled IGNORE are no faces, and the locations inside one (and inside no face)
        are left out of the classification loss: an unannotated face is not taught as background."""
        if not any((t["labels"] == IGNORE).any() for t in targets):
            return super().compute_loss(targets, head_outputs, anchors, num_anchors_per_level)
        logits, faces = head_outputs["cls_logits"].clone(), []
        for i, (target, anchors_i) in enumerate(zip(targets, anchors)):
            ignored = target["labels"] == IGNORE
            faces.append({**target, "boxes": target["boxes"][~ignored], "labels": target["labels"][~ignored]})
            centres = (anchors_i[:, :2] + anchors_i[:, 2:]) / 2
            left_out = holds(target["boxes"][ignored], centres) & ~holds(faces[-1]["boxes"], centres)
            logits[i, left_out] = -30.0  # sigmoid ~1e-13: no loss, and the overwritten logits get no gradient
        return super().compute_loss(faces, {**head_outputs, "cls_logits": logits}, anchors, num_anchors_per_level)

    def _forward_network(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """FCOS's inference with `network` for its convolutions. Anchors need only the levels' sizes: each is
        the padded input's divided by the level's stride, rounded up (the input is padded to a multiple of 32)."""
        original_sizes = [tuple(im.shape[-2:]) for im in images]
        batch, _ = self.transform(images)
        height, width = batch.tensors.shape[-2:]
        levels = [batch.tensors.new_empty(0, 0, -(-height // s), -(-width // s)) for s in self.strides]
        head_outputs = dict(zip(DetectorNetwork.OUTPUTS, self.network(batch.tensors)))
        counts = [level.shape[2] * level.shape[3] for level in levels]
        split_outputs = {k: list(v.split(counts, dim=1)) for k, v in head_outputs.items()}
        split_anchors = [list(a.split(counts)) for a in self.anchor_generator(batch, levels)]
        detections = self.postprocess_detections(split_outputs, split_anchors, batch.image_sizes)
        return self.transform.postprocess(detections, batch.image_sizes, original_sizes)

    def postprocess_detections(self, head_outputs: dict[str, list[torch.Tensor]], anchors: list[list[torch.Tensor]],
                               image_shapes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
        levels = zip(head_outputs["bbox_regression"], head_outputs["cls_logits"], head_outputs["bbox_ctrness"], anchors[0])
        found = [self._level_candidates(*level) for level in levels]  # every image of a batch has the same anchors
        boxes, scores, class_scores = (torch.cat(parts, 1) for parts in zip(*found))
        limits = torch.tensor([[w, h, w, h] for h, w in image_shapes], dtype=boxes.dtype, device=boxes.device)
        boxes = torch.minimum(boxes.clamp(min=0), limits[:, None])
        image, slot = torch.nonzero(scores > self.score_thresh, as_tuple=True)
        boxes, scores, class_scores = boxes[image, slot], scores[image, slot], class_scores[image, slot]
        keep = box_ops.batched_nms(boxes, scores, image, self.nms_thresh)  # best first; per image as suits the device
        keep = keep[torch.sort(image[keep], stable=True).indices]  # grouped by image, best first within each
        counts = torch.bincount(image[keep], minlength=len(image_shapes)).tolist()
        detections = []
        for mine in keep.split(counts):
            mine = mine[:self.detections_per_img]
            detections.append({"boxes": boxes[mine], "scores": scores[mine], "labels": class_scores[mine].argmax(1),
                               "class_scores": class_scores[mine]})
        return detections

    def _level_candidates(self, regression: torch.Tensor, logits: torch.Tensor, ctrness: torch.Tensor,
                          anchors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One level's `topk_candidates` best locations per image: boxes (B, K, 4), scores (B, K), class scores (B, K, C)."""
        probs = torch.sigmoid(logits)
        scores = torch.sqrt(probs.max(2).values * torch.sigmoid(ctrness[..., 0]))
        scores, idxs = scores.topk(min(scores.shape[1], self.topk_candidates), dim=1)
        boxes = self.box_coder.decode(regression.gather(1, idxs[..., None].expand(-1, -1, 4)), anchors[idxs])
        probs = probs.gather(1, idxs[..., None].expand(-1, -1, probs.shape[2]))
        return boxes, scores, probs / probs.sum(2, keepdim=True)


def holds(boxes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """For each point (N, 2), whether one of `boxes` (M, 4) holds it."""
    if len(boxes) == 0:
        return torch.zeros(len(points), dtype=torch.bool, device=points.device)
    return ((points[:, None] >= boxes[None, :, :2]) & (points[:, None] <= boxes[None, :, 2:])).all(2).any(1)


def build_detector(spec: DetectorSpec, pretrained_backbone: bool = False, trainable_from: int = 4,
                   face_weights: str | Path | None = None) -> FaceFCOS:
    """FCOS on the body `spec.body` names. mobilenet_v2: an ImageNet MobileNetV2-FPN (with `pretrained_backbone`,
    the ImageNet weights; blocks before `trainable_from` frozen). retinaface: a face detector's body
    (models/retinaface_body.py), its pretrained weights read from `face_weights` when given."""
    if spec.body == "retinaface":
        backbone = RetinaFaceFeatures()
        if face_weights:
            backbone.load_face_detector(face_weights)
        return fcos_on(backbone, spec, backbone.strides, backbone.image_mean, backbone.image_std)
    if spec.body != "mobilenet_v2":
        raise ValueError(f"unknown detector body {spec.body!r}: expected one of {BODIES}")
    weights = MobileNet_V2_Weights.IMAGENET1K_V1 if pretrained_backbone else None
    features = mobilenet_v2(weights=weights, norm_layer=misc_nn_ops.FrozenBatchNorm2d).features[:max(spec.levels) + 1]
    for i, block in enumerate(features):
        block.requires_grad_(i >= trainable_from)
    return_layers = {str(b): f"c{b}" for b in spec.levels}
    backbone = BackboneWithFPN(features, return_layers, [BLOCKS[b][0] for b in spec.levels], spec.fpn_channels,
                               extra_blocks=LastLevelMaxPool())
    strides = [BLOCKS[b][1] for b in spec.levels]
    return fcos_on(backbone, spec, (*strides, 2 * strides[-1]))


def fcos_on(backbone: nn.Module, spec: DetectorSpec, strides: tuple[int, ...], image_mean: tuple[float, ...] | None = None,
            image_std: tuple[float, ...] | None = None) -> FaceFCOS:
    """FaceFCOS reading `backbone`'s levels (at `strides`, finest first); images normalised with `image_mean` and
    `image_std` (default: ImageNet's)."""
    # FCOS reads an anchor's size as its level's stride (torchvision's convention).
    anchors = AnchorGenerator(sizes=tuple((s,) for s in strides), aspect_ratios=((1.0,),) * len(strides))
    head = FCOSHead(backbone.out_channels, anchors.num_anchors_per_location()[0], spec.num_classes, spec.head_convs)
    if spec.head_separable:
        separate_convolutions(head)
    model = FaceFCOS(backbone, spec.num_classes, min_size=spec.min_size, max_size=spec.max_size, anchor_generator=anchors,
                     head=head, score_thresh=spec.score_thresh, nms_thresh=spec.nms_thresh,
                     detections_per_img=spec.detections_per_img, topk_candidates=1000,
                     image_mean=list(image_mean) if image_mean else None, image_std=list(image_std) if image_std else None)
    model.strides = tuple(strides)
    return model


def separate_convolutions(head: FCOSHead) -> None:
    """Each 3x3 convolution of the head's two branches replaced by a depthwise 3x3 and a pointwise 1x1 one."""
    for branch in (head.classification_head, head.regression_head):
        for i, layer in enumerate(branch.conv):
            if isinstance(layer, nn.Conv2d):
                channels = layer.in_channels
                branch.conv[i] = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
                                               nn.Conv2d(channels, channels, 1))


def fold_frozen_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every FrozenBatchNorm2d into the convolution before it (inference only: same outputs, fewer passes)."""
    for child in module.children():
        fold_frozen_batchnorm(child)
    if isinstance(module, nn.Sequential):
        items = list(module)
        for i in range(1, len(items)):
            conv, bn = items[i - 1], items[i]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, misc_nn_ops.FrozenBatchNorm2d):
                scale = bn.weight * (bn.running_var + bn.eps).rsqrt()
                bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.bias)
                conv.weight = nn.Parameter(conv.weight.detach() * scale.view(-1, 1, 1, 1), requires_grad=False)
                conv.bias = nn.Parameter((bias.detach() - bn.running_mean) * scale + bn.bias, requires_grad=False)
                module[i] = nn.Identity()
    return module


class HalfBackbone(nn.Module):
    """A backbone run in fp16 whose features come back in fp32: the head and box decoding keep full precision
    (fp16 has a 0.5 px step above 512 px). Plain .half() rather than autocast: no per-op casting on the CPU side."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.body = backbone.half()
        self.out_channels = backbone.out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return OrderedDict((k, v.float()) for k, v in self.body(x.half()).items())


def save_detector(path: str | Path, model: nn.Module, spec: DetectorSpec, half: bool = True) -> None:
    """Write weights (fp16 by default) and spec atomically."""
    write_weights(path, FORMAT, asdict(spec), model, half)


def load_detector(path: str | Path, device: str | torch.device = "cpu") -> tuple[FaceFCOS, DetectorSpec, str]:
    """Rebuild the detector in eval mode, BatchNorm folded; returns it with its spec and the file's sha256."""
    fields, state = read_weights(path, FORMAT)
    fields["levels"] = tuple(fields["levels"])
    spec = DetectorSpec(**fields)
    model = build_detector(spec)
    model.load_state_dict(state)
    # channels-last halves CPU inference time (measured: research/results/model_history.md, "Why this scale")
    model = fold_frozen_batchnorm(model).to(device, memory_format=torch.channels_last).eval()
    return model, spec, sha256_of(path)


def image_tensor(rgb, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 RGB (H, W, 3) numpy array -> float (3, H, W) in [0, 1] on `device`, the detector's input."""
    return torch.from_numpy(rgb).to(device).permute(2, 0, 1).float().div_(255.0)  # uint8 travels, 4x fewer bytes


@torch.inference_mode()
def detect(model: FaceFCOS, images: list, device: str | torch.device = "cpu") -> list[dict[str, torch.Tensor]]:
    """Run the detector on uint8 RGB images; boxes come back in each image's own pixel coordinates."""
    model.eval()
    return [{k: v.cpu() for k, v in out.items()} for out in model([image_tensor(im, device) for im in images])]
