"""5-fold image-level cross-validation of a classifier recipe, predictions pooled over the folds.

    python -m training.crossval --preset maskwatch --out results/crossval

Every face is tested exactly once, by the model of the fold that held its image out. Inside each
fold, 10% of the training images are set aside as validation data for early saving, the softmax
temperature and (with --logit-bias) the logit bias; the fold's test images are used for nothing but the pooled predictions.
"""
import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from models.crops import to_tensor
from training.data import DEFAULT_DATA
from training.engine import PRESETS, TrainConfig, fit, pick_device, predict_logits
from training.faces import FaceTable
from training.metrics import calibrate, calibrated_probs, summarize
from training.plots import plot_confusion
from training.splits import FOLDS_FILE, image_split, load_split
from training.voc import read_voc


def run_fold(table: FaceTable, voc: list, test_stems: list[str], cfg: TrainConfig, fold: int, device, logit_bias: bool) -> dict:
    rest = [im for im in voc if im.stem not in set(test_stems)]
    inner = image_split(rest, seed=fold, fractions=(0.9, 0.1, 0.0))
    train_idx, val_idx = table.select_images(inner["train"]), table.select_images(inner["val"])
    test_idx = table.select_images(test_stems)
    result = fit(table, train_idx, val_idx, cfg, device, progress=False)

    def logits(idx):
        return predict_logits(result.model, to_tensor(table.crops(idx, cfg.input_size, cfg.margin)), cfg.flip_tta).numpy()

    val_logits = logits(val_idx)
    temperature, bias = calibrate(val_logits, table.labels[val_idx], table.labels[train_idx], logit_bias)
    return {"test_idx": test_idx, "logits": logits(test_idx), "temperature": temperature, "bias": bias,
            "val_labels": table.labels[val_idx], "val_probs": calibrated_probs(val_logits, temperature, bias),
            "best_epoch": result.best_epoch, "seconds": result.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--preset", default="maskwatch", choices=sorted(PRESETS))
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--margin", type=float)
    parser.add_argument("--class-weights", choices=("none", "sqrt", "inverse"))
    parser.add_argument("--no-flip-tta", action="store_true")
    parser.add_argument("--logit-bias", action="store_true", help="also fit an ACA logit bias per fold (on its validation part)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="results/crossval")
    args = parser.parse_args()
    cfg = TrainConfig(**PRESETS[args.preset])
    overrides = {k: getattr(args, k) for k in ("input_size", "epochs", "margin", "class_weights") if getattr(args, k) is not None}
    cfg = dataclasses.replace(cfg, **overrides, flip_tta=cfg.flip_tta and not args.no_flip_tta)
    device = pick_device(args.device)
    voc = read_voc(args.data)
    table = FaceTable.from_voc(voc)
    folds = load_split(FOLDS_FILE)["folds"]
    start = time.perf_counter()
    results = []
    for k, stems in enumerate(folds):
        results.append(run_fold(table, voc, stems, cfg, k, device, args.logit_bias))
        print(f"fold {k + 1}/{len(folds)} done: best epoch {results[-1]['best_epoch']}, T={results[-1]['temperature']:.2f}, bias={np.round(results[-1]['bias'], 2).tolist()}, "
              f"{results[-1]['seconds']:.0f}s", flush=True)
    idx = np.concatenate([r["test_idx"] for r in results])
    assert len(idx) == len(table.labels) and len(set(idx.tolist())) == len(idx), "every face must be tested exactly once"
    y = table.labels[idx]
    raw = np.concatenate([r["logits"] for r in results])
    temp_only = np.concatenate([calibrated_probs(r["logits"], r["temperature"]) for r in results])
    final = np.concatenate([calibrated_probs(r["logits"], r["temperature"], r["bias"]) for r in results])
    report = {"recipe": dataclasses.asdict(cfg), "device": str(device), "minutes": (time.perf_counter() - start) / 60,
              "temperatures": [r["temperature"] for r in results], "biases": [r["bias"].tolist() for r in results],
              "best_epochs": [r["best_epoch"] for r in results],
              "pooled": summarize(y, final),
              "validation": summarize(np.concatenate([r["val_labels"] for r in results]), np.concatenate([r["val_probs"] for r in results])), "pooled_temperature_only": summarize(y, temp_only),
              "pooled_uncalibrated": summarize(y, calibrated_probs(raw))}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "crossval.json").write_text(json.dumps(report, indent=1))
    plot_confusion(report["pooled"]["confusion_matrix"], out / "confusion_matrix.png", "5-fold image-level CV, pooled")
    p = report["pooled"]
    print(json.dumps({k: p[k] for k in ("n", "acc_with_mask", "acc_without_mask", "acc_mask_worn_incorrectly", "aca", "ece")}, indent=1))
    for name in ("validation", "pooled_uncalibrated", "pooled_temperature_only"):
        print(name, {k: round(report[name][k], 4) for k in ("aca", "acc_mask_worn_incorrectly", "ece")})


if __name__ == "__main__":
    main()
