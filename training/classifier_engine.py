"""The classifier training loop: weighted cross-entropy, early saving on the lowest validation loss."""
import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import WeightedRandomSampler
from tqdm import tqdm

from models.allocator import keep_freed_memory
from models.architectures import build_classifier
from models.crops import to_tensor
from training.faces import FaceTable
from training.recipe import TrainConfig

NUM_CLASSES = 3


def class_weights(labels: np.ndarray, mode: str) -> torch.Tensor:
    """Loss weights from training labels: `inverse` is the paper's w[c] = n_min / n_c; `sqrt` its square root."""
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(float)
    if mode == "none":
        return torch.ones(NUM_CLASSES)
    w = np.where(counts > 0, counts[counts > 0].min() / np.maximum(counts, 1), 0.0)
    if mode == "sqrt":
        w = np.sqrt(w)
    elif mode != "inverse":
        raise ValueError(f"unknown class weight mode {mode!r}")
    return torch.tensor(w, dtype=torch.float32)


def augment_batch(x: torch.Tensor, gen: torch.Generator, rotate: float = 0.0, lowres: float = 0.0) -> torch.Tensor:
    """Per sample: horizontal flip, brightness/contrast jitter, optional rotation and low-resolution views."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    if rotate > 0:
        angle = torch.deg2rad((torch.rand(n, generator=gen) * 2 - 1) * rotate)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros(n)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), padding_mode="border", align_corners=False)
    if lowres > 0:
        # big faces seen through a small face's few pixels: half the faces here are under 24 px
        chosen = torch.rand(n, generator=gen) < lowres
        sides = torch.randint(10, 33, (n,), generator=gen)
        for side in sides[chosen].unique().tolist():
            rows = chosen & (sides == side)
            small = F.interpolate(x[rows], size=(side, side), mode="area")
            x[rows] = F.interpolate(small, size=x.shape[2:], mode="bilinear", align_corners=False)
    gain = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.4
    shift = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.4
    return x * gain + shift


def epoch_order(labels: torch.Tensor, weights: torch.Tensor, sampler: str, gen: torch.Generator) -> torch.Tensor:
    """One epoch's training rows: a shuffle, or for sampler "class" a draw with replacement, each row as likely as its class weight."""
    if sampler == "class":
        return torch.tensor(list(WeightedRandomSampler(weights[labels], len(labels), generator=gen)))
    return torch.randperm(len(labels), generator=gen)


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """The last layer at `cfg.lr`, everything before it at `cfg.backbone_lr` times that."""
    head = list(list(model.children())[-1].parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    return [{"params": body, "lr": cfg.lr * cfg.backbone_lr}, {"params": head, "lr": cfg.lr}]


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def batch_loss(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor, mixup: float,
               rng: np.random.Generator, gen: torch.Generator) -> torch.Tensor:
    """The loss of one batch; with mixup, of the batch blended with a shuffled copy of itself, labels blended alike."""
    if mixup <= 0:
        return loss_fn(model(x).float(), y)
    lam = float(rng.beta(mixup, mixup))
    perm = torch.randperm(len(y), generator=gen).to(y.device)
    logits = model(lam * x + (1 - lam) * x[perm]).float()
    return lam * loss_fn(logits, y) + (1 - lam) * loss_fn(logits, y[perm])


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, flip_tta: bool = False, batch: int = 512) -> torch.Tensor:
    """Logits for a tensor of crops, in batches, in eval mode (optionally averaged with the mirror image)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(xb).float()
            if flip_tta:
                logits = (logits + model(xb.flip(3)).float()) / 2
        out.append(logits.cpu())
    return torch.cat(out) if out else torch.zeros(0, NUM_CLASSES)


def train_one_epoch(model: nn.Module, loss_fn: nn.Module, opt: torch.optim.Optimizer, sched, averaged: AveragedModel | None,
                    x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, rng: np.random.Generator, gen: torch.Generator,
                    desc: str, progress: bool) -> float:
    """One pass over `x` (already in epoch order) in batches of `cfg.batch_size`; returns the mean training loss."""
    model.train()
    device = next(model.parameters()).device
    total, bar = 0.0, tqdm(range(0, len(y), cfg.batch_size), desc=desc, disable=not progress, leave=False)
    for i in bar:
        xb, yb = x[i:i + cfg.batch_size], y[i:i + cfg.batch_size].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = batch_loss(model, loss_fn, xb, yb, cfg.mixup, rng, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        if averaged:
            averaged.update_parameters(model)
        total += loss.item() * len(yb)
        bar.set_postfix(train_loss=f"{loss.item():.4f}")
    return total / max(len(y), 1)


@dataclass
class FitResult:
    model: nn.Module
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    states: dict[str, dict] = field(default_factory=dict)  # "best" and "last" weights, to compare both


def fit(table: FaceTable, train_idx: np.ndarray, val_idx: np.ndarray, cfg: TrainConfig,
        device: torch.device, progress: bool = True) -> FitResult:
    """Train `cfg.arch` on `train_idx`; returns the weights `cfg.keep` names (by default the lowest validation loss)."""
    if cfg.keep not in ("best", "last"):
        raise ValueError(f"unknown keep {cfg.keep!r}: best or last")
    if cfg.sampler not in ("shuffle", "class"):
        raise ValueError(f"unknown sampler {cfg.sampler!r}: shuffle or class")
    keep_freed_memory()  # faster CPU steps: see models/allocator.py
    torch.manual_seed(cfg.seed)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = build_classifier(cfg.arch, cfg.pretrained).to(device)
    weights = class_weights(table.labels[train_idx], cfg.class_weights).to(device)
    loss_fn = nn.CrossEntropyLoss(weight=None if cfg.sampler == "class" else weights, label_smoothing=cfg.label_smoothing)
    val_loss_fn = nn.CrossEntropyLoss(weight=weights)  # weighted whatever the sampler: every recipe is kept by the same criterion
    opt = _optimizer(model, cfg)
    # an average along the trajectory is a cheap ensemble: nothing is added at inference
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True) if cfg.ema > 0 else None
    kept = averaged.module if averaged else model
    epochs = cfg.resolved_epochs()
    steps = epochs * math.ceil(len(train_idx) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [g["lr"] for g in opt.param_groups], total_steps=steps, pct_start=0.1) if cfg.schedule == "cosine" else None
    y_train = torch.as_tensor(table.labels[train_idx])
    y_val = torch.as_tensor(table.labels[val_idx])
    x_val = to_tensor(table.crops(val_idx, cfg.input_size, cfg.margin))
    x_fixed = None if cfg.augment else to_tensor(table.crops(train_idx, cfg.input_size, cfg.margin)).to(device)
    best, best_loss, best_epoch, history = None, math.inf, 0, []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        if cfg.augment:
            x_train = augment_batch(to_tensor(table.crops(train_idx, cfg.input_size, cfg.margin, cfg.jitter, rng, cfg.top_cut)), gen, cfg.rotate, cfg.lowres).to(device)
        else:
            x_train = x_fixed
        order = epoch_order(y_train, weights.cpu(), cfg.sampler, gen)
        train_loss = train_one_epoch(model, loss_fn, opt, sched, averaged, x_train[order], y_train[order], cfg, rng, gen,
                                     f"epoch {epoch}/{epochs}", progress)
        val_loss = val_loss_fn(predict_logits(kept, x_val).to(device), y_val.to(device)).item()
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if val_loss < best_loss:
            best, best_loss, best_epoch = copy.deepcopy(kept.state_dict()), val_loss, epoch
        if progress:
            tqdm.write(f"epoch {epoch:3d}/{epochs}  train_loss {train_loss:.4f}  val_loss {val_loss:.4f}"
                       + ("  *" if best_epoch == epoch else ""))
    states = {"best": best, "last": copy.deepcopy(kept.state_dict())}
    kept.load_state_dict(states[cfg.keep])
    return FitResult(kept.eval(), best_epoch, history, time.perf_counter() - start, states)
