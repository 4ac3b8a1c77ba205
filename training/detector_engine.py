"""The detector training loop: augmentation, one epoch, validation, and `fit` with checkpoints to resume from.

`training.train_detector` is its command line; research scripts call `fit` with their own data.
"""
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import v2
from tqdm import tqdm

from models.detector import IGNORE, DetectorNetwork, DetectorSpec, detect, image_tensor, save_detector
from training.detection_metrics import evaluate_detections
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
    distil: float = 1.0  # weight of the teacher's term, when `fit` has a teacher
    freeze_body: bool = False  # train the head only: the body and pyramid keep their weights and BatchNorm statistics


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


def distil_loss(student: dict[str, torch.Tensor], teacher: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """How far the head's outputs are from the teacher's on the same input: binary cross-entropy to the teacher's
    class and centredness probabilities, and L1 to its box regression weighted by its face probability; each
    normalised by the teacher's total face probability, as FCOS normalises by its foreground locations."""
    cls, regression, ctrness = teacher
    face = cls.sigmoid()
    weight = face.amax(-1, keepdim=True)
    mass = weight.sum().clamp(min=1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    return (bce(student["cls_logits"], face, reduction="sum") + bce(student["bbox_ctrness"], ctrness.sigmoid(), reduction="sum")
            + (weight * (student["bbox_regression"] - regression).abs()).sum()) / mass


def taught_head(model) -> tuple[dict, list]:
    """Hooks that keep the batch as the backbone sees it (transformed) and the head's outputs, for the teacher."""
    seen = {}
    hooks = [model.backbone.register_forward_pre_hook(lambda _, args: seen.update(input=args[0])),
             model.head.register_forward_hook(lambda _, args, out: seen.update(student=out))]
    return seen, hooks


def train_one_epoch(model, opt: torch.optim.Optimizer, sched, scaler: torch.amp.GradScaler, train: list[tuple[np.ndarray, dict]],
                    cfg: DetTrainConfig, gen: torch.Generator, jitter: v2.ColorJitter, device: torch.device, desc: str,
                    teacher: DetectorNetwork | None = None) -> float:
    """One pass over `train` in a random order, augmented; returns the mean loss per batch. With `teacher`, the
    loss also pulls the head's outputs towards the teacher's (`distil_loss`, weighted by `cfg.distil`)."""
    model.train()
    if cfg.freeze_body:
        model.backbone.eval()
    seen, hooks = taught_head(model) if teacher is not None else ({}, [])
    order = torch.randperm(len(train), generator=gen).tolist()
    bar = tqdm(range(0, len(order), cfg.batch_size), desc=desc)
    total = 0.0
    for i in bar:
        batch = [augment(*train[j], gen, jitter, device) for j in order[i:i + cfg.batch_size]]
        images = [b[0] for b in batch]
        targets = [{k: v.to(device) for k, v in b[1].items()} for b in batch]
        with torch.autocast("cuda", dtype=torch.float16, enabled=device.type == "cuda"):
            losses = model(images, targets)
            if teacher is not None:
                with torch.no_grad():
                    taught = teacher(seen["input"])
                losses["distil"] = cfg.distil * distil_loss(seen["student"], taught)
            loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        total += loss.item()
        bar.set_postfix(loss=f"{loss.item():.3f}", **{k.replace("bbox_", ""): f"{v.item():.3f}" for k, v in losses.items()})
    for hook in hooks:
        hook.remove()
    return total / len(bar)


def evaluate(model, data: list[tuple[np.ndarray, dict]], num_classes: int, device) -> dict:
    gt, pred = [], []
    for rgb, target in data:
        out = detect(model, [rgb], device)[0]
        gt.append((target["boxes"].numpy(), target["labels"].numpy()))
        pred.append((out["boxes"].numpy(), out["labels"].numpy(), out["scores"].numpy()))
    return evaluate_detections(gt, pred, num_classes)


def fit(model, spec: DetectorSpec, cfg: DetTrainConfig, train: list[tuple[np.ndarray, dict]], val: list[tuple[np.ndarray, dict]],
        out: Path, device: torch.device, gen: torch.Generator, resume: str | None = None, teacher=None) -> None:
    """Train `model` for `cfg.epochs` (from the `resume` checkpoint's next epoch when given), distilling from the
    detector `teacher` when given. Writes `last.pt` after every epoch, `detector.pt` (fp16, `spec`) with the best
    val figure, and `history.json` at the end."""
    model = model.to(memory_format=torch.channels_last)
    model.transform.min_size = cfg.scales  # GeneralizedRCNNTransform picks one at random per batch in training
    if cfg.freeze_body:
        model.backbone.requires_grad_(False)
    teacher = DetectorNetwork(teacher.to(device)).eval() if teacher is not None else None
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
        train_loss = train_one_epoch(model, opt, sched, scaler, train, cfg, gen, jitter, device, f"epoch {epoch}/{cfg.epochs}", teacher)
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
