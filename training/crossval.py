"""5-fold image-level cross-validation of a classifier recipe, predictions pooled over the folds.

    python -m training.crossval --preset maskwatch --out runs/crossval

Every face is tested exactly once, by the model of the fold that held its image out. Inside each
fold, 10% of the training images are set aside as validation data for early saving, the softmax
temperature and (with --logit-bias) the logit bias; the fold's test images are used for nothing but the pooled predictions.

Besides the recipe as configured, each fold also scores its other variants at no training cost: the
best-validation-loss and the last epoch's weights, each with and without flip TTA ("variants" in the
report). predictions.npz keeps every variant's temperature-scaled probabilities, validation and test,
so that ensembles of recipes can be scored afterwards (research.ensembles).
"""
import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from models.crops import to_tensor
from training.classifier_engine import fit, predict_logits
from training.data import add_data_args, load_data
from training.device import pick_device
from training.faces import FaceTable
from training.mask_synthesis import add_synthetic_faces, synthetic_for
from training.metrics import calibrate, calibrated_probs, fit_temperature, per_dataset, per_size, size_bin, summarize
from training.plots import plot_confusion
from training.recipe import TrainConfig, add_recipe_args, recipe_from_args
from training.splits import FOLDS_FILE, INCORRECT, image_split, load_split, thin_class

VARIANTS = {f"{keep}{'_tta' if tta else ''}": (keep, tta) for keep in ("best", "last") for tta in (False, True)}


def fold_indices(table: FaceTable, voc: list, test_stems: list[str], fold: int,
                 rare_fraction: float = 1.0, synthetic: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fold's train, validation and test faces: its other images split 90/10, training part optionally thinned,
    with the synthetic faces made from its training images (`synthetic`: `add_synthetic_faces`'s sources)."""
    rest = [im for im in voc if im.stem not in set(test_stems)]
    inner = image_split(rest, seed=fold, fractions=(0.9, 0.1, 0.0))
    train_idx, val_idx = table.select_images(inner["train"]), table.select_images(inner["val"])
    if rare_fraction < 1:
        train_idx = thin_class(train_idx, table.labels, INCORRECT, rare_fraction, seed=fold)
    if synthetic is not None:
        train_idx = np.concatenate([train_idx, synthetic_for(table, synthetic, inner["train"])])
    return train_idx, val_idx, table.select_images(test_stems)


def run_fold(table: FaceTable, voc: list, test_stems: list[str], cfg: TrainConfig, fold: int, device, logit_bias: bool,
             rare_fraction: float = 1.0, synthetic: np.ndarray | None = None) -> dict:
    train_idx, val_idx, test_idx = fold_indices(table, voc, test_stems, fold, rare_fraction, synthetic)
    result = fit(table, train_idx, val_idx, cfg, device, progress=False)
    x_val, x_test = (to_tensor(table.crops(idx, cfg.input_size, cfg.margin)) for idx in (val_idx, test_idx))
    y_val = table.labels[val_idx]

    variants = {}
    for name, (keep, tta) in VARIANTS.items():
        result.model.load_state_dict(result.states[keep])
        val_logits, test_logits = (predict_logits(result.model, x, tta).numpy() for x in (x_val, x_test))
        t = fit_temperature(val_logits, y_val)
        variants[name] = {"val_logits": val_logits, "val_probs": calibrated_probs(val_logits, t),
                          "test_logits": test_logits, "test_probs": calibrated_probs(test_logits, t)}
    chosen = variants[f"{cfg.keep}{'_tta' if cfg.flip_tta else ''}"]
    # the prior the logit bias discounts is the real faces': synthetic ones would make the rare class look common
    real_train = train_idx if synthetic is None else train_idx[synthetic[train_idx] < 0]
    temperature, bias = calibrate(chosen["val_logits"], y_val, table.labels[real_train], logit_bias)
    return {"test_idx": test_idx, "logits": chosen["test_logits"], "temperature": temperature, "bias": bias,
            "val_labels": y_val, "val_probs": calibrated_probs(chosen["val_logits"], temperature, bias),
            "variants": variants, "best_epoch": result.best_epoch, "seconds": result.seconds,
            "rare_train_faces": int((table.labels[train_idx] == INCORRECT).sum()), "train_faces": len(train_idx)}


def save_predictions(path: Path, table: FaceTable, results: list[dict]) -> None:
    """Every variant's pooled test and validation probabilities, faces in the report's pooled order."""
    arrays = {"test_idx": np.concatenate([r["test_idx"] for r in results]),
              "test_fold": np.concatenate([np.full(len(r["test_idx"]), k) for k, r in enumerate(results)]),
              "val_labels": np.concatenate([r["val_labels"] for r in results])}
    arrays["test_labels"] = table.labels[arrays["test_idx"]]
    arrays["test_dataset"] = table.datasets[arrays["test_idx"]]
    arrays["test_size_bin"] = size_bin(table.boxes[arrays["test_idx"]])
    for name in VARIANTS:
        for part in ("test", "val"):
            arrays[f"{name}_{part}"] = np.concatenate([r["variants"][name][f"{part}_probs"] for r in results])
    np.savez_compressed(path, **arrays)


def variant_summaries(y_test: np.ndarray, results: list[dict]) -> dict:
    y_val = np.concatenate([r["val_labels"] for r in results])
    pooled = lambda name, part: np.concatenate([r["variants"][name][f"{part}_probs"] for r in results])  # noqa: E731
    return {name: {"validation": summarize(y_val, pooled(name, "val")), "pooled": summarize(y_test, pooled(name, "test"))}
            for name in VARIANTS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    add_recipe_args(parser, preset="maskwatch")
    parser.add_argument("--rare-fraction", type=float, default=1.0,
                        help="train each fold on only this share of its incorrectly-worn faces (a learning curve; tests keep all)")
    parser.add_argument("--logit-bias", action="store_true", help="also fit an ACA logit bias per fold (on its validation part)")
    parser.add_argument("--synthetic-masks", action="store_true",
                        help="also train on masks drawn onto unmasked training faces (training/mask_synthesis.py); tests stay real")
    parser.add_argument("--folds-file", default=str(FOLDS_FILE), help="CV folds (training.make_splits --out for your own data)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/crossval")
    args = parser.parse_args()
    if not 0 < args.rare_fraction <= 1:
        parser.error(f"--rare-fraction must be in (0, 1], got {args.rare_fraction}")
    cfg = recipe_from_args(args)
    device = pick_device(args.device)
    voc = load_data(parser, args)
    table = FaceTable.from_voc(voc)
    real_faces = len(table.labels)
    try:
        synthetic = add_synthetic_faces(table) if args.synthetic_masks else None
    except FileNotFoundError as err:
        parser.error(f"--synthetic-masks: {err}")
    held = {im.stem for im in voc}
    folds = [[s for s in fold if s in held] for fold in load_split(args.folds_file)["folds"]]
    start = time.perf_counter()
    results = []
    for k, stems in enumerate(folds):
        results.append(run_fold(table, voc, stems, cfg, k, device, args.logit_bias, args.rare_fraction, synthetic))
        print(f"fold {k + 1}/{len(folds)} done: best epoch {results[-1]['best_epoch']}, T={results[-1]['temperature']:.2f}, bias={np.round(results[-1]['bias'], 2).tolist()}, "
              f"{results[-1]['seconds']:.0f}s", flush=True)
    idx = np.concatenate([r["test_idx"] for r in results])
    assert len(idx) == real_faces and len(set(idx.tolist())) == len(idx), "every face must be tested exactly once"
    y, datasets = table.labels[idx], table.datasets[idx]
    raw = np.concatenate([r["logits"] for r in results])
    temp_only = np.concatenate([calibrated_probs(r["logits"], r["temperature"]) for r in results])
    final = np.concatenate([calibrated_probs(r["logits"], r["temperature"], r["bias"]) for r in results])
    report = {"recipe": dataclasses.asdict(cfg), "device": str(device), "minutes": (time.perf_counter() - start) / 60,
              "temperatures": [r["temperature"] for r in results], "biases": [r["bias"].tolist() for r in results],
              "best_epochs": [r["best_epoch"] for r in results], "rare_fraction": args.rare_fraction,
              "rare_train_faces": [r["rare_train_faces"] for r in results], "train_faces": [r["train_faces"] for r in results],
              "synthetic_masks": args.synthetic_masks,
              "pooled": summarize(y, final), "per_dataset": per_dataset(y, final, datasets),
              "per_size": per_size(y, final, table.boxes[idx]),
              "per_dataset_size": {name: per_size(y[datasets == name], final[datasets == name], table.boxes[idx][datasets == name])
                                   for name in dict.fromkeys(datasets.tolist())},
              "validation": summarize(np.concatenate([r["val_labels"] for r in results]), np.concatenate([r["val_probs"] for r in results])), "pooled_temperature_only": summarize(y, temp_only),
              "pooled_uncalibrated": summarize(y, calibrated_probs(raw)),
              "variants": variant_summaries(y, results)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "crossval.json").write_text(json.dumps(report, indent=1))
    save_predictions(out / "predictions.npz", table, results)
    plot_confusion(report["pooled"]["confusion_matrix"], out / "confusion_matrix.png", "5-fold image-level CV, pooled")
    keys = ("n", "acc_with_mask", "acc_without_mask", "acc_mask_worn_incorrectly", "aca", "ece")
    print(json.dumps({k: report["pooled"][k] for k in keys}, indent=1))
    for name, p in {**report["per_dataset"], **report["per_size"]}.items():
        print(name, {k: round(p[k], 4) for k in keys})
    for name in ("validation", "pooled_uncalibrated", "pooled_temperature_only"):
        print(name, {k: round(report[name][k], 4) for k in ("aca", "acc_mask_worn_incorrectly", "ece")})
    for name, v in report["variants"].items():
        print(f"variant {name}: val ACA {v['validation']['aca']:.4f}, CV ACA {v['pooled']['aca']:.4f}, incorrect {v['pooled']['acc_mask_worn_incorrectly']:.4f}")


if __name__ == "__main__":
    main()
