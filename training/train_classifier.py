"""Train the per-face mask classifier.

    python -m training.train_classifier --preset paper --arch custom_relu_bn --split face
    python -m training.train_classifier --preset maskwatch --split image --calibrate --out runs/classifier

Writes the checkpoint, history.json, metrics.json, loss_curves.png and confusion_matrix.png to --out.
"""
import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from models.architectures import ARCHITECTURES, PretrainedWeightsUnavailable
from models.checkpoint import ClassifierSpec, save_checkpoint
from models.crops import to_tensor
from training.classifier_engine import fit, predict_logits
from training.data import add_data_args, load_data
from training.device import pick_device
from training.faces import FaceTable
from training.mask_synthesis import add_synthetic_faces, synthetic_for
from training.metrics import calibrate, calibrated_probs, per_dataset, summarize
from training.plots import plot_confusion, plot_loss_curves
from training.recipe import TrainConfig, add_recipe_args, recipe_from_args
from training.splits import INCORRECT, part_indices, thin_class


def part_logits(model, table: FaceTable, idx: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    return predict_logits(model, to_tensor(table.crops(idx, cfg.input_size, cfg.margin)), cfg.flip_tta).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--split", choices=("face", "image"), default="image", help="saved split to use (splits/)")
    parser.add_argument("--split-file", help="a split of your own data instead (training.make_splits --out); its kind is --split")
    add_recipe_args(parser, preset="paper")
    parser.add_argument("--rare-fraction", type=float, default=1.0,
                        help="train on only this share of the incorrectly-worn training faces (a learning curve; val and test keep all)")
    parser.add_argument("--synthetic-masks", action="store_true",
                        help="also train on masks drawn onto the train part's unmasked faces (training/mask_synthesis.py)")
    parser.add_argument("--calibrate", action="store_true", help="fit a softmax temperature on the validation part")
    parser.add_argument("--logit-bias", action="store_true", help="with --calibrate, also fit an ACA logit bias (see training/metrics.py)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--out", default="runs/classifier", help="output folder")
    args = parser.parse_args()
    if not 0 < args.rare_fraction <= 1:
        parser.error(f"--rare-fraction must be in (0, 1], got {args.rare_fraction}")
    cfg = recipe_from_args(args)
    if cfg.arch not in ARCHITECTURES:
        parser.error(f"unknown --arch {cfg.arch!r}: one of {', '.join(sorted(ARCHITECTURES))}")
    device = pick_device(args.device)
    print(f"training {cfg.arch} ({'ImageNet-pretrained' if cfg.pretrained else 'from scratch'}) on the {args.split} split, device {device}")
    table = FaceTable.from_voc(load_data(parser, args))
    try:
        parts = part_indices(table, args.split, args.split_file)
    except ValueError as err:
        parser.error(str(err))
    parts["train"] = thin_class(parts["train"], table.labels, INCORRECT, args.rare_fraction, seed=cfg.seed)
    real_train = parts["train"]  # the prior the logit bias discounts: synthetic faces would make the rare class look common
    if args.synthetic_masks:
        try:
            source = add_synthetic_faces(table)
        except FileNotFoundError as err:
            parser.error(f"--synthetic-masks: {err}")
        train_images = sorted({table.stems[i] for i in table.image_index[parts["train"]]})
        parts["train"] = np.concatenate([parts["train"], synthetic_for(table, source, train_images)])
        print(f"{int((source >= 0).sum())} synthetic faces, {len(parts['train'])} training faces with those of the train part")
    try:
        result = fit(table, parts["train"], parts["val"], cfg, device)
    except PretrainedWeightsUnavailable as err:
        parser.error(f"{err} (for MobileNetV2: python -m training.fetch_weights)")

    val_logits, test_logits = (part_logits(result.model, table, parts[p], cfg) for p in ("val", "test"))
    y_val, y_test = table.labels[parts["val"]], table.labels[parts["test"]]
    temperature, bias = calibrate(val_logits, y_val, table.labels[real_train], args.logit_bias) if args.calibrate else (1.0, np.zeros(3))
    metrics = {"val": summarize(y_val, calibrated_probs(val_logits, temperature, bias)),
               "val_uncalibrated": summarize(y_val, calibrated_probs(val_logits)),
               "test": summarize(y_test, calibrated_probs(test_logits, temperature, bias)),
               "test_uncalibrated": summarize(y_test, calibrated_probs(test_logits)),
               "test_per_dataset": per_dataset(y_test, calibrated_probs(test_logits, temperature, bias), table.datasets[parts["test"]]),
               "val_per_dataset": per_dataset(y_val, calibrated_probs(val_logits, temperature, bias), table.datasets[parts["val"]]),
               "rare_fraction": args.rare_fraction, "rare_train_faces": int((table.labels[parts["train"]] == INCORRECT).sum()),
               "temperature": temperature, "logit_bias": bias.tolist(), "best_epoch": result.best_epoch,
               "train_seconds": result.seconds}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = ClassifierSpec(cfg.arch, cfg.input_size, cfg.margin, temperature, tuple(bias.tolist()), cfg.flip_tta,
                          meta={"config": dataclasses.asdict(cfg), "split": args.split, "best_epoch": result.best_epoch,
                                "data": [Path(d).name for d in args.data], "synthetic_masks": args.synthetic_masks})
    save_checkpoint(out / "classifier.pt", result.model.cpu(), spec)
    (out / "history.json").write_text(json.dumps(result.history, indent=1))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    plot_loss_curves(result.history, out / "loss_curves.png", f"{cfg.arch}: loss curves ({args.split} split)")
    plot_confusion(metrics["test"]["confusion_matrix"], out / "confusion_matrix.png", f"{cfg.arch}: test part, {args.split} split")
    keys = ("acc_with_mask", "acc_without_mask", "acc_mask_worn_incorrectly", "aca", "ece")
    print("test", json.dumps({k: metrics["test"][k] for k in keys}))
    for name, m in metrics["test_per_dataset"].items():
        print(f"test, {name}", json.dumps({k: m[k] for k in keys}))
    print(f"wrote {out}/classifier.pt, metrics.json, history.json, loss_curves.png, confusion_matrix.png")


if __name__ == "__main__":
    main()
