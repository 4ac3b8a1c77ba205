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

Augmentation: horizontal flip, scale jitter (a random short side per batch) and colour jitter.
A checkpoint (`last.pt`) is written after every epoch; `detector.pt` (fp16) is the weights with the best
validation face AP@0.5. AMP (fp16 autocast + grad scaling) on CUDA.
"""
import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import v2
from tqdm import tqdm

from models.allocator import keep_freed_memory
from models.checkpoint import read_weights
from models.detector import BODIES, IGNORE, DetectorSpec, build_detector, detect, image_tensor, save_detector
from models.detector import FORMAT as DETECTOR_FORMAT
from training.data import RETINAFACE_WEIGHTS, add_data_args, load_data
from training.detection_metrics import evaluate_detections
from training.engine import pick_device
from training.splits import SPLIT_FILES, load_split, thin_images
from training.voc import VOCImage


@dataclasses.dataclass
class DetTrainConfig:
    epochs: int = 16
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    scales: tuple[int, ...] = (320, 352, 384, 416, 448)
    three_class: bool = False
    eval_every: int = 4
    keep_every: int = 0
    seed: int = 0


def load_images(voc: list[VOCImage], three_class: bool) -> list[tuple[np.ndarray, dict]]:
    """Images and targets; one class: every face labelled 0 (IGNORE boxes keep their label)."""
    return [(im.load_rgb(), {"boxes": torch.from_numpy(im.boxes),
                             "labels": torch.from_numpy(im.labels if three_class else np.where(im.labels == IGNORE, IGNORE, 0))})
            for im in voc]


def add_faces(images: list[VOCImage], extra: dict[str, list], label: int = 0) -> list[VOCImage]:
    """The images with the boxes of `extra` ({stem: [[x1, y1, x2, y2], ...]}) added with `label` (a face of
    class 0, or IGNORE)."""
    out = []
    for im in images:
        boxes = np.asarray(extra.get(im.stem, []), dtype=im.boxes.dtype).reshape(-1, 4)
        out.append(dataclasses.replace(im, boxes=np.concatenate([im.boxes, boxes]),
                                       labels=np.concatenate([im.labels, np.full(len(boxes), label, im.labels.dtype)])))
    return out


def augment(rgb: np.ndarray, target: dict, gen: torch.Generator, jitter: v2.ColorJitter,
            device: torch.device) -> tuple[torch.Tensor, dict]:
    image = jitter(image_tensor(rgb, device))  # on the device: on a GPU the CPU's jitter would bound the step
    boxes = target["boxes"].clone()
    if torch.rand(1, generator=gen) < 0.5:
        image = image.flip(-1)
        boxes[:, [0, 2]] = image.shape[-1] - boxes[:, [2, 0]]
    return image, {"boxes": boxes, "labels": target["labels"]}


def train_one_epoch(model, opt: torch.optim.Optimizer, sched, scaler: torch.amp.GradScaler, train: list[tuple[np.ndarray, dict]],
                    cfg: DetTrainConfig, gen: torch.Generator, jitter: v2.ColorJitter, device: torch.device, desc: str) -> float:
    """One pass over `train` in a random order, augmented; returns the mean loss per batch."""
    model.train()
    order = torch.randperm(len(train), generator=gen).tolist()
    bar = tqdm(range(0, len(order), cfg.batch_size), desc=desc)
    total = 0.0
    for i in bar:
        batch = [augment(*train[j], gen, jitter, device) for j in order[i:i + cfg.batch_size]]
        images = [b[0] for b in batch]
        targets = [{k: v.to(device) for k, v in b[1].items()} for b in batch]
        with torch.autocast("cuda", dtype=torch.float16, enabled=device.type == "cuda"):
            losses = model(images, targets)
            loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        total += loss.item()
        bar.set_postfix(loss=f"{loss.item():.3f}", **{k.replace("bbox_", ""): f"{v.item():.3f}" for k, v in losses.items()})
    return total / len(bar)


def evaluate(model, data: list[tuple[np.ndarray, dict]], num_classes: int, device) -> dict:
    gt, pred = [], []
    for rgb, target in data:
        out = detect(model, [rgb], device)[0]
        gt.append((target["boxes"].numpy(), target["labels"].numpy()))
        pred.append((out["boxes"].numpy(), out["labels"].numpy(), out["scores"].numpy()))
    return evaluate_detections(gt, pred, num_classes)


def fit(model, spec: DetectorSpec, cfg: DetTrainConfig, train: list[tuple[np.ndarray, dict]], val: list[tuple[np.ndarray, dict]],
        out: Path, device: torch.device, gen: torch.Generator, resume: str | None = None) -> None:
    """Train `model` for `cfg.epochs` (from the `resume` checkpoint's next epoch when given). Writes `last.pt` after
    every epoch, `detector.pt` (fp16, `spec`) with the best val figure, and `history.json` at the end."""
    model = model.to(memory_format=torch.channels_last)
    model.transform.min_size = cfg.scales  # GeneralizedRCNNTransform picks one at random per batch in training
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.05)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    jitter = v2.ColorJitter(0.3, 0.3, 0.3, 0.02)
    out.mkdir(parents=True, exist_ok=True)
    start_epoch, history, best_ap, elapsed = 1, [], -1.0, 0.0
    if resume:
        state = torch.load(resume, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        start_epoch, history, best_ap, elapsed = state["epoch"] + 1, state["history"], state["best_ap"], state["elapsed"]
    best_by = "map50" if spec.num_classes > 1 else "face_ap50"  # the checkpoint kept is the best on val by this
    print(f"training FCOS on {spec.body} ({spec.num_classes} class(es)) on {len(train)} images, device {device}")

    for epoch in range(start_epoch, cfg.epochs + 1):
        t0 = time.perf_counter()
        train_loss = train_one_epoch(model, opt, sched, scaler, train, cfg, gen, jitter, device, f"epoch {epoch}/{cfg.epochs}")
        record = {"epoch": epoch, "train_loss": train_loss}
        model.transform.min_size = (spec.min_size,)
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            metrics = evaluate(model, val, spec.num_classes, device)
            record.update(val_face_ap50=metrics["face_ap50"], val_map50=metrics["map50"])
            if metrics[best_by] > best_ap:
                best_ap = metrics[best_by]
                save_detector(out / "detector.pt", model, dataclasses.replace(spec, meta={"epoch": epoch, "val": metrics}))
        if cfg.keep_every and epoch % cfg.keep_every == 0:
            save_detector(out / f"detector_epoch{epoch}.pt", model, dataclasses.replace(spec, meta={"epoch": epoch}))
        model.transform.min_size = cfg.scales
        elapsed += time.perf_counter() - t0
        record["elapsed_min"] = elapsed / 60
        history.append(record)
        tqdm.write(json.dumps(record))
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "generator": gen.get_state(), "epoch": epoch, "history": history, "best_ap": best_ap,
                    "elapsed": elapsed}, out / "last.pt.tmp")
        (out / "last.pt.tmp").replace(out / "last.pt")
    (out / "history.json").write_text(json.dumps(history, indent=1))
    print(f"done in {elapsed / 60:.1f} min; best val {best_by} {best_ap:.4f}; weights: {out / 'detector.pt'}")


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
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/detector")
    args = parser.parse_args()

    cfg = DetTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, scales=tuple(args.scales),
                         three_class=args.three_class, eval_every=args.eval_every, keep_every=args.keep_every, seed=args.seed)
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
                        head_convs=head_convs)
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
    if args.init:  # every tensor whose shape fits: a one-class detector starts a three-class one but its class head
        own = model.state_dict()
        fitting = {k: v for k, v in init_state.items() if own[k].shape == v.shape}
        model.load_state_dict(fitting, strict=False)
        print(f"initialised {len(fitting)} of {len(own)} tensors from {args.init}")
    fit(model, spec, cfg, train, val, Path(args.out), device, gen, args.resume)

if __name__ == "__main__":
    main()
