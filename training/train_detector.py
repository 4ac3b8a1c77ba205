"""Train the face detector (FCOS on an ImageNet MobileNetV2 FPN, or on a pretrained face detector's body with
--body retinaface) on the image split of every --data folder.

    python -m training.train_detector --epochs 24 --out runs/detector
    python -m training.train_detector --resume runs/detector/last.pt     # continue after an interruption
    python -m training.train_detector --init runs/detector/detector.pt --scales 416 448 480 512 544 --min-size 480 \
        --max-size 640 --epochs 10 --out runs/detector_480                 # fine-tune a trained detector at a larger scale
    python -m training.train_detector --extra-faces runs/pseudo/yunet_train.json ...  # unannotated faces (research.pseudo_labels)
    python -m training.train_detector --ignore-faces runs/pseudo/yunet_train.json ... # the same, as neither face nor background
    python -m training.train_detector --body retinaface --epochs 10 --eval-every 1 ...   # from RetinaFace's WIDER FACE weights
    python -m training.train_detector --keep-every 2 --seed 1 --head-convs 4 ...  # snapshots every 2 epochs, another draw, deeper heads
    python -m training.train_detector --train-fraction 0.5 --epochs 20 ...  # half the train images (a learning curve point)
    python -m training.train_detector --init models/weights/detector.pt --head-convs 1 --distil-from models/weights/detector.pt \
        --freeze-body ...                       # a lighter head taught by the shipped one, the body kept as it is
    python -m training.train_detector --init models/weights/detector.pt --separable-head ...  # depthwise-separable head convolutions

Augmentation: horizontal flip, scale jitter (a random short side per batch) and colour jitter.
A checkpoint (`last.pt`) is written after every epoch; `detector.pt` (fp16) is the weights with the best
validation face AP@0.5. AMP (fp16 autocast + grad scaling) on CUDA.
"""
import argparse
import json
from pathlib import Path

import torch

from models.allocator import keep_freed_memory
from models.checkpoint import read_weights
from models.detector import BODIES, IGNORE, DetectorSpec, build_detector, load_detector
from models.detector import FORMAT as DETECTOR_FORMAT
from training.data import RETINAFACE_WEIGHTS, add_data_args, load_data
from training.detector_engine import DetTrainConfig, add_faces, fit, load_images
from training.device import pick_device
from training.splits import SPLIT_FILES, load_split, thin_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--split-file", default=str(SPLIT_FILES["image"]), help="image-level split (training.make_splits --out)")
    parser.add_argument("--epochs", type=int, default=DetTrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=DetTrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=DetTrainConfig.lr)
    parser.add_argument("--body", choices=BODIES, help="mobilenet_v2 (ImageNet) or retinaface (a face detector's); default: the --init file's, else mobilenet_v2")
    parser.add_argument("--face-weights", default=str(RETINAFACE_WEIGHTS), help="--body retinaface: RetinaFace-MobileNet0.25's state dict (default: %(default)s)")
    parser.add_argument("--eval-every", type=int, default=DetTrainConfig.eval_every, help="validate (and keep the best weights) every N epochs")
    parser.add_argument("--keep-every", type=int, default=0,
                        help="also write detector_epochN.pt (fp16) every N epochs, to choose among elsewhere (default: none)")
    parser.add_argument("--seed", type=int, default=DetTrainConfig.seed, help="order, augmentation and new layers' draw")
    parser.add_argument("--head-convs", type=int, help=f"convolutions in each head branch (default: the --init file's, else {DetectorSpec.head_convs})")
    parser.add_argument("--separable-head", action="store_true", help="depthwise-separable head convolutions (default: the --init file's)")
    parser.add_argument("--three-class", action="store_true", help="detect with_mask / without_mask / incorrect directly")
    parser.add_argument("--scales", type=int, nargs="+", default=list(DetTrainConfig.scales), help="training short sides (one per batch)")
    parser.add_argument("--min-size", type=int, default=DetectorSpec.min_size, help="short side at inference")
    parser.add_argument("--max-size", type=int, default=DetectorSpec.max_size)
    parser.add_argument("--extra-faces", help="JSON {stem: [[x1, y1, x2, y2], ...]}: unannotated faces added to the training images")
    parser.add_argument("--ignore-faces", help="JSON as --extra-faces: unannotated faces trained as neither face nor background")
    parser.add_argument("--train-fraction", type=float, default=1.0,
                        help="train on a seeded share of the train images, each dataset's in proportion (a learning curve)")
    parser.add_argument("--limit", type=int, help="train on the first N images only (smoke runs)")
    parser.add_argument("--resume", help="a last.pt to continue from")
    parser.add_argument("--init", help="start from a trained detector.pt (new optimizer and schedule)")
    parser.add_argument("--distil-from", help="a detector.pt of the same body whose head outputs the loss also pulls towards")
    parser.add_argument("--distil-weight", type=float, default=DetTrainConfig.distil, help="weight of that term (default: %(default)s)")
    parser.add_argument("--freeze-body", action="store_true", help="train the head only; body and pyramid stay as initialised")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/detector")
    args = parser.parse_args()

    cfg = DetTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, scales=tuple(args.scales),
                         three_class=args.three_class, eval_every=args.eval_every, keep_every=args.keep_every, seed=args.seed,
                         distil=args.distil_weight, freeze_body=args.freeze_body)
    try:
        init_spec, init_state = read_weights(args.init, DETECTOR_FORMAT) if args.init else ({}, {})
    except (OSError, ValueError) as err:
        parser.error(f"--init: {err}")
    body = init_spec.get("body", DetectorSpec.body) if args.init else args.body or DetectorSpec.body
    if args.body and args.body != body:
        parser.error(f"--body {args.body}: --init {args.init} is a {body} detector")
    head_convs = init_spec.get("head_convs", DetectorSpec.head_convs) if args.head_convs is None else args.head_convs
    if head_convs < 1:
        parser.error(f"--head-convs {head_convs}: at least 1")
    if not 0 < args.train_fraction <= 1:
        parser.error(f"--train-fraction {args.train_fraction}: must be in (0, 1]")
    spec = DetectorSpec(num_classes=3 if cfg.three_class else 1, min_size=args.min_size, max_size=args.max_size, body=body,
                        head_convs=head_convs, head_separable=args.separable_head or init_spec.get("head_separable", False))
    fresh = not (args.resume or args.init)
    if fresh and spec.body == "retinaface" and not Path(args.face_weights).is_file():
        parser.error(f"--face-weights {args.face_weights}: no such file (RetinaFace's state dict, see ../shared/pretrained/README.md)")
    device = pick_device(args.device)
    keep_freed_memory()  # faster CPU steps: see models/allocator.py
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    split = load_split(args.split_file)
    voc = {im.stem: im for im in load_data(parser, args)}
    train_voc = [voc[s] for s in split["train"] if s in voc][:args.limit]
    train_voc = thin_images(train_voc, args.train_fraction, cfg.seed)
    if args.extra_faces:
        if cfg.three_class:
            parser.error("--extra-faces adds faces without a class: train a one-class detector")
        train_voc = add_faces(train_voc, json.loads(Path(args.extra_faces).read_text()))
    if args.ignore_faces:
        train_voc = add_faces(train_voc, json.loads(Path(args.ignore_faces).read_text()), IGNORE)
    train = load_images(train_voc, cfg.three_class)
    val = load_images([voc[s] for s in split["val"] if s in voc][:args.limit], cfg.three_class)
    if not train or not val:
        parser.error(f"no image of --data is in the train or val part of {args.split_file}")

    try:
        model = build_detector(spec, pretrained_backbone=fresh and spec.body == "mobilenet_v2",
                               face_weights=args.face_weights if fresh and spec.body == "retinaface" else None).to(device)
    except OSError as err:
        parser.error(f"ImageNet MobileNetV2 weights are not in the torch hub cache ({err}); run python -m training.fetch_weights")
    if args.init:  # every tensor whose name and shape fit: all but the class head of a three-class one, or fewer head convs
        own = model.state_dict()
        fitting = {k: v for k, v in init_state.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(fitting, strict=False)
        print(f"initialised {len(fitting)} of {len(own)} tensors from {args.init}")
    teacher = None
    if args.distil_from:
        try:
            teacher, teacher_spec, _ = load_detector(args.distil_from)
        except (OSError, ValueError) as err:
            parser.error(f"--distil-from: {err}")
        if (teacher_spec.body, teacher_spec.num_classes) != (spec.body, spec.num_classes):
            parser.error(f"--distil-from {args.distil_from}: a {teacher_spec.body} detector of {teacher_spec.num_classes} "
                         f"class(es), not {spec.body} of {spec.num_classes}")
    fit(model, spec, cfg, train, val, Path(args.out), device, gen, args.resume, teacher)

if __name__ == "__main__":
    main()
