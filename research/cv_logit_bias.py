"""Score one variant of a finished crossval run with a per-fold ACA logit bias, fitted after the fact.

    python -m research.cv_logit_bias runs/cv_best:last --out runs/cv_best/last_bias.json

`training.crossval --logit-bias` fits the bias for the configured variant only (e.g. last epoch + flip TTA);
this fits it for another variant of the same run (e.g. the last epoch read without TTA) from the
temperature-scaled probabilities predictions.npz keeps: per fold, on that fold's own validation part, with
the prior of its training part, as crossval does. The bias is added to log-probabilities, which differ from
the logits by a constant per face, so the argmax is what a bias on the logits would give.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from training.crossval import VARIANTS, fold_indices
from training.data import add_data_args, load_data
from training.faces import FaceTable
from training.metrics import calibrate, calibrated_probs, per_dataset, summarize
from training.splits import FOLDS_FILE, load_split


def rescore(folder: str, variant: str, voc: list, bias_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, list, np.ndarray]:
    """Pooled test probabilities of `variant` of a crossval run with each fold's ACA bias (times `bias_scale`),
    the labels, and the biases. Raises ValueError if the run's folds differ from `voc`'s."""
    table = FaceTable.from_voc(voc, load_images=False)
    held = {im.stem for im in voc}
    folds = [[s for s in fold if s in held] for fold in load_split(FOLDS_FILE)["folds"]]
    blob = np.load(Path(folder) / "predictions.npz")
    val_probs, test_probs = blob[f"{variant}_val"], blob[f"{variant}_test"]
    probs, biases, start = [], [], 0
    for k, stems in enumerate(folds):
        train_idx, val_idx, _ = fold_indices(table, voc, stems, k)
        if not np.array_equal(blob["val_labels"][start:start + len(val_idx)], table.labels[val_idx]):
            raise ValueError(f"fold {k}'s validation faces differ from the run's: was it run on other --data or folds?")
        val = np.log(np.clip(val_probs[start:start + len(val_idx)], 1e-12, 1))
        start += len(val_idx)
        temperature, bias = calibrate(val, table.labels[val_idx], table.labels[train_idx], logit_bias=True)
        test = np.log(np.clip(test_probs[blob["test_fold"] == k], 1e-12, 1))
        probs.append(calibrated_probs(test, temperature, bias * bias_scale))
        biases.append((bias * bias_scale).tolist())
    return np.concatenate(probs), blob["test_labels"], biases, table.datasets[blob["test_idx"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="DIR:VARIANT of a training.crossval run")
    add_data_args(parser)  # the folders the run read
    parser.add_argument("--bias-scale", type=float, default=1.0, help="use each fitted bias times this (1 = as fitted)")
    parser.add_argument("--out", required=True, help="JSON report")
    args = parser.parse_args()
    folder, _, variant = args.run.partition(":")
    if variant not in VARIANTS or not (Path(folder) / "predictions.npz").is_file():
        parser.error(f"expected DIR:VARIANT, VARIANT one of {sorted(VARIANTS)}, DIR/predictions.npz from training.crossval")
    try:
        pooled, y, biases, datasets = rescore(folder, variant, load_data(parser, args), args.bias_scale)
    except ValueError as err:
        parser.error(str(err))
    report = {"run": args.run, "bias_scale": args.bias_scale, "biases": biases, "pooled": summarize(y, pooled),
              "per_dataset": per_dataset(y, pooled, datasets)}
    Path(args.out).write_text(json.dumps(report, indent=1))
    keys = ("aca", "acc_with_mask", "acc_without_mask", "acc_mask_worn_incorrectly", "ece")
    print("pooled", {k: round(report["pooled"][k], 4) for k in keys})
    for name, m in report["per_dataset"].items():
        print(name, {k: round(m[k], 4) for k in keys})


if __name__ == "__main__":
    main()
