"""Train the per-face mask classifier.

    python -m training.train_classifier --preset paper --arch custom_relu_bn --split face
    python -m training.train_classifier --preset maskwatch --split image --calibrate --out models/weights

Writes the checkpoint, history.json, metrics.json, loss_curves.png and confusion_matrix.png to --out.
"""
import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from models.checkpoint import ClassifierSpec, save_checkpoint
from models.classifiers import ARCHITECTURES, PretrainedWeightsUnavailable
from models.crops import to_tensor
from training.data import DEFAULT_DATA
from training.engine import PRESETS, TrainConfig, fit, pick_device, predict_logits
from training.faces import FaceTable
from training.metrics import calibrate, calibrated_probs, summarize
from training.plots import plot_confusion, plot_loss_curves
from training.splits import part_indices
from training.voc import read_voc


def build_config(args: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig(**PRESETS[args.preset])
    overrides = {k: getattr(args, k) for k in ("arch", "epochs", "lr", "seed", "input_size", "margin", "pretrained", "rotate", "lowres", "ema", "mixup", "backbone_lr", "flip_tta")}
    return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


def part_logits(model, table: FaceTable, idx: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    return predict_logits(model, to_tensor(table.crops(idx, cfg.input_size, cfg.margin)), cfg.flip_tta).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, help="VOC folder")
    parser.add_argument("--split", choices=("face", "image"), default="image", help="saved split to use (splits/)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--margin", type=float)
    parser.add_argument("--rotate", type=float, help="augmentation: rotation up to this many degrees")
    parser.add_argument("--lowres", type=float, help="augmentation: share of crops shown at a lower resolution")
    parser.add_argument("--flip-tta", action=argparse.BooleanOptionalAction, help="average each crop's logits with its mirror image's")
    parser.add_argument("--ema", type=float, help="keep an exponential moving average of the weights with this decay per step")
    parser.add_argument("--mixup", type=float, help="train on mixup pairs with this Beta(a, a) parameter")
    parser.add_argument("--backbone-lr", type=float, help="learning rate of the pretrained layers as a fraction of the head's")
    parser.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=None,
                        help="start from ImageNet weights (torch hub cache)")
    parser.add_argument("--calibrate", action="store_true", help="fit a softmax temperature on the validation part")
    parser.add_argument("--logit-bias", action="store_true", help="with --calibrate, also fit an ACA logit bias (see training/metrics.py)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--out", default="runs/classifier", help="output folder")
    args = parser.parse_args()

    cfg = build_config(args)
    device = pick_device(args.device)
    print(f"training {cfg.arch} ({'ImageNet-pretrained' if cfg.pretrained else 'from scratch'}) on the {args.split} split, device {device}")
    table = FaceTable.from_voc(read_voc(args.data))
    parts = part_indices(table, args.split)
    try:
        result = fit(table, parts["train"], parts["val"], cfg, device)
    except PretrainedWeightsUnavailable as err:
        parser.error(f"{err} (for MobileNetV2: python -m training.fetch_weights)")

    val_logits, test_logits = (part_logits(result.model, table, parts[p], cfg) for p in ("val", "test"))
    y_val, y_test = table.labels[parts["val"]], table.labels[parts["test"]]
    temperature, bias = calibrate(val_logits, y_val, table.labels[parts["train"]], args.logit_bias) if args.calibrate else (1.0, np.zeros(3))
    metrics = {"val": summarize(y_val, calibrated_probs(val_logits, temperature, bias)),
               "val_uncalibrated": summarize(y_val, calibrated_probs(val_logits)),
               "test": summarize(y_test, calibrated_probs(test_logits, temperature, bias)),
               "test_uncalibrated": summarize(y_test, calibrated_probs(test_logits)),
               "temperature": temperature, "logit_bias": bias.tolist(), "best_epoch": result.best_epoch,
               "train_seconds": result.seconds}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = ClassifierSpec(cfg.arch, cfg.input_size, cfg.margin, temperature, tuple(bias.tolist()), cfg.flip_tta,
                          meta={"config": dataclasses.asdict(cfg), "split": args.split, "best_epoch": result.best_epoch})
    save_checkpoint(out / "classifier.pt", result.model.cpu(), spec)
    (out / "history.json").write_text(json.dumps(result.history, indent=1))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    plot_loss_curves(result.history, out / "loss_curves.png", f"{cfg.arch}: loss curves ({args.split} split)")
    plot_confusion(metrics["test"]["confusion_matrix"], out / "confusion_matrix.png", f"{cfg.arch}: test part, {args.split} split")
    test = metrics["test"]
    print(json.dumps({k: test[k] for k in ("acc_with_mask", "acc_without_mask", "acc_mask_worn_incorrectly", "aca", "ece")}, indent=1))
    print(f"wrote {out}/classifier.pt, metrics.json, history.json, loss_curves.png, confusion_matrix.png")


if __name__ == "__main__":
    main()
