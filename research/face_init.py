"""Detector option: FCOS on a pretrained *face* detector's body instead of an ImageNet MobileNetV2.

    python -m research.face_init train --body retinaface --epochs 10 --out runs/det_retinaface   # both train parts
    python -m research.face_init evaluate runs/det_retinaface/detector.pt --part val --time --out runs/det_retinaface/val.json

Two bodies, weights from ../shared/pretrained (MIT), network code in research/:
- retinaface: RetinaFace-MobileNet0.25's body, pyramid and context modules (WIDER FACE; models/retinaface_body.py,
  shipped since: `training.train_detector --body retinaface` trains it), three 64-channel levels at strides
  8/16/32, all pretrained;
- rfb: the RFB SSD's base network and extra layer (WIDER FACE + MAFA masked faces; research/rfb.py), four levels
  at strides 8-64 (64-256 channels) under a new 64-channel FPN.
A new FCOS head (one class) reads the levels. Everything trains, BatchNorm frozen at the pretrained statistics
(batches of 4).
Training is the product's loop (`training.detector_engine.fit`: augmentation, val face AP after every epoch here,
the best kept in the product's fp16 format with `body` in its spec); evaluation is the pipeline's at the
service's settings, with this detector in place of the shipped one.
"""
import argparse
import json
import statistics
import time
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork
from torchvision.ops.misc import FrozenBatchNorm2d

from models.checkpoint import read_weights
from models.detector import FORMAT, DetectorSpec, FaceFCOS, fcos_on, fold_frozen_batchnorm
from models.mask_classifier import DEFAULT_WEIGHTS
from models.pipeline import DEFAULT_DETECTOR, DETECTOR_SCALE, SCORE_FLOOR, MaskPipeline
from models.retinaface_body import RetinaFaceFeatures
from research import rfb
from research.baselines import PRETRAINED_DIR
from training.data import add_data_args, load_data
from training.detector_engine import DetTrainConfig, fit, load_images
from training.evaluate import batched_detections, detection_report, drop_ignored, load_ignore, pipeline_predictions, select_part
from training.splits import SPLIT_FILES, load_split
from training.voc import VOCImage

RETINAFACE = PRETRAINED_DIR / "retinaface_mobilenet0.25_widerface.pth"
RFB = PRETRAINED_DIR / "rfb640_masked_face_v2.pth"


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Every BatchNorm2d replaced by a FrozenBatchNorm2d holding its statistics and affine weights."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, child.eps)
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(frozen, key).copy_(getattr(child, key).detach())
            setattr(module, name, frozen)
        else:
            freeze_batchnorm(child)
    return module


def retinaface_features(path: str | Path) -> RetinaFaceFeatures:
    features = RetinaFaceFeatures()
    features.load_face_detector(path)
    return features


class RFBFeatures(nn.Module):
    """The RFB SSD's base network (levels after blocks 7, 10 and 12) and extra layer, under a new FPN. Its input
    is RGB as (x - 127) / 128."""

    out_channels = 64
    strides = rfb.STEPS
    image_mean, image_std = [127 / 255] * 3, [128 / 255] * 3

    def __init__(self, path: str | Path):
        super().__init__()
        net = freeze_batchnorm(rfb.load_rfb(str(path)))
        self.base_net, self.extra = net.base_net, net.extras[0]
        self.fpn = FeaturePyramidNetwork([64, 128, 256, 256], self.out_channels)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        levels = OrderedDict()
        for i, (start, end) in enumerate(((0, 8), (8, 11), (11, 13))):
            x = levels[f"p{i}"] = self.base_net[start:end](x)
        levels["p3"] = self.extra(x)
        return self.fpn(levels)


BODIES = {"retinaface": (retinaface_features, RETINAFACE), "rfb": (RFBFeatures, RFB)}


def build(spec: DetectorSpec, body: str, path: str | Path | None = None) -> FaceFCOS:
    """FCOS on `body` (a key of BODIES) loaded from `path` (default: its weights in ../shared/pretrained)."""
    features, weights = BODIES[body]
    backbone = features(path or weights)
    return fcos_on(backbone, spec, backbone.strides, backbone.image_mean, backbone.image_std)


def train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    cfg = DetTrainConfig(epochs=args.epochs, lr=args.lr, scales=tuple(args.scales), eval_every=1)
    spec = DetectorSpec(min_size=args.min_size, max_size=args.max_size, body=args.body)
    torch.manual_seed(cfg.seed)
    split = load_split(SPLIT_FILES["image"])
    voc = {im.stem: im for im in load_data(parser, args)}
    train_set = load_images([voc[s] for s in split["train"] if s in voc][:args.limit], False)
    val_set = load_images([voc[s] for s in split["val"] if s in voc][:args.limit], False)
    fit(build(spec, args.body), spec, cfg, train_set, val_set, Path(args.out), torch.device("cpu"), torch.Generator().manual_seed(cfg.seed))


def pipeline_with(path: str, scale: int = DETECTOR_SCALE) -> MaskPipeline:
    """The service's pipeline (shipped classifier and score floor) with this option's detector, read at `scale`."""
    fields, state = read_weights(path, FORMAT)
    spec = DetectorSpec(**{**fields, "levels": tuple(fields["levels"])})
    model = build(spec, spec.body)
    model.load_state_dict(state)
    pipeline = MaskPipeline(DEFAULT_DETECTOR, DEFAULT_WEIGHTS)
    pipeline.detector = fold_frozen_batchnorm(model).to(memory_format=torch.channels_last).eval()  # as load_detector
    pipeline.detector_spec = spec
    pipeline.detector_name = f"fcos_{spec.body}@{Path(path).parent.name}"
    pipeline.set_scale(scale)
    pipeline.detector.score_thresh = SCORE_FLOOR
    return pipeline


@torch.inference_mode()
def detect_times(pipelines: dict[str, MaskPipeline], images: list[VOCImage]) -> dict[str, float]:
    """Median ms of `detect` per image for each pipeline, taking turns image by image (the first image warms up)."""
    times = {name: [] for name in pipelines}
    for im in images:
        rgb = im.load_rgb()
        for name, pipeline in pipelines.items():
            start = time.perf_counter()
            pipeline.detect(rgb)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: round(statistics.median(t[1:]), 1) for name, t in times.items()}


def evaluate_option(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    images = select_part(load_data(parser, args), args.part)
    pipeline = pipeline_with(args.weights, args.scale)
    if args.nms is not None:
        pipeline.detector.nms_thresh = args.nms
    with torch.inference_mode():
        preds = pipeline_predictions(batched_detections(pipeline, images, 1), pipeline.classifier, images)
    report = {"detector": pipeline.detector_name, "classifier": pipeline.classifier.name, "part": args.part, "scale": args.scale,
              "nms_iou": pipeline.detector.nms_thresh,
              "score_floor": SCORE_FLOOR, "ignore": args.ignore,
              **detection_report(images, drop_ignored(images, preds, load_ignore(args.ignore)))}
    if args.time:
        shipped = MaskPipeline(DEFAULT_DETECTOR, DEFAULT_WEIGHTS)
        report["detect_ms_median"] = detect_times({pipeline.detector_name: pipeline, shipped.detector_name: shipped}, images)
        report["torch_threads"] = torch.get_num_threads()
        print(f"detect ms per image, median, torch, {torch.get_num_threads()} threads: {report['detect_ms_median']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    for name, m in {"pooled": report, **report["per_dataset"]}.items():
        print(f"{name}: face AP@0.5 {m['face_ap50']:.3f}, mAP@0.5 {m['map50']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train", help="train the option on the train part, keep the best val face AP")
    add_data_args(fit)
    fit.add_argument("--body", choices=sorted(BODIES), required=True, help="the pretrained face detector to start from")
    fit.add_argument("--epochs", type=int, default=10)
    fit.add_argument("--lr", type=float, default=DetTrainConfig.lr)
    fit.add_argument("--scales", type=int, nargs="+", default=[448, 480, 512, 544, 576])
    fit.add_argument("--min-size", type=int, default=544)
    fit.add_argument("--max-size", type=int, default=725)
    fit.add_argument("--limit", type=int, help="first N images of each part only (smoke runs)")
    fit.add_argument("--out", required=True)
    score = commands.add_parser("evaluate", help="the pipeline's metrics with this detector, at the service's settings")
    add_data_args(score)
    score.add_argument("weights")
    score.add_argument("--part", default="val")
    score.add_argument("--ignore", help="JSON {stem: [[x1, y1, x2, y2], ...]}: unannotated faces (training.evaluate --ignore)")
    score.add_argument("--scale", type=int, default=DETECTOR_SCALE, help="short side read (default: the service's)")
    score.add_argument("--nms", type=float, help="suppression IoU threshold (default: the weights')")
    score.add_argument("--time", action="store_true", help="also time detection against the shipped detector, taking turns")
    score.add_argument("--out", required=True)
    args = parser.parse_args()
    (train if args.command == "train" else evaluate_option)(args, parser)


if __name__ == "__main__":
    main()
