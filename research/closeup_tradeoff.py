"""The trade-off of the ACA logit bias: the bias that buys the incorrectly-worn class its accuracy also calls
correctly worn close-up masks "worn incorrectly". For each bias scale (the fitted bias times s), this scores
the cross-validated accuracy of a crossval run (each fold's bias fitted on its own validation part, then
scaled) beside the close-up set's with_mask accuracy read by a classifier trained with the same recipe.
The scale is chosen on the CV figures alone (the close-up set is evaluation only); the plot shows both.

    python -m research.closeup_tradeoff runs/cv_topcut:last runs/cls_topcut/classifier.pt --out research/results/two_datasets/closeups
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from models.mask_classifier import MaskClassifier  # noqa: E402
from research.closeups import CLOSEUPS, CONVENTIONS, INCORRECT, WITH, classify  # noqa: E402
from research.cv_logit_bias import rescore  # noqa: E402
from training.data import add_data_args, load_data  # noqa: E402
from training.metrics import per_dataset, summarize  # noqa: E402
from training.voc import read_voc  # noqa: E402

SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)


def closeup_accuracy(classifier: MaskClassifier, images: list, scale: float, full_bias) -> dict:
    classifier.bias = full_bias * scale
    out = {}
    for name, convention in CONVENTIONS.items():
        labels, probs, _ = classify(classifier, images, convention)
        pred = probs.argmax(1)
        out[name] = {"with_mask": round(float((pred[labels == WITH] == WITH).mean()), 4),
                     "incorrect": round(float((pred[labels == INCORRECT] == INCORRECT).mean()), 4)}
    return out


def plot(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for convention, marker in zip(CONVENTIONS, "os^"):
        ax.plot([r["cv"]["incorrect"] for r in rows], [r["closeups"][convention]["with_mask"] for r in rows], marker=marker, label=f"close-ups, {convention}")
    for r in rows:
        ax.annotate(f"s={r['scale']:g}", (r["cv"]["incorrect"], r["closeups"]["as annotated"]["with_mask"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.axhline(0.97, color="grey", linestyle=":", label="target: close-up with_mask 0.97")
    ax.axvline(0.88, color="grey", linestyle="--", label="target: CV incorrect 0.88")
    ax.set_xlabel("5-fold CV accuracy on mask_worn_incorrectly (both datasets)")
    ax.set_ylabel("close-up with_mask accuracy")
    ax.set_title("Logit bias scale s: close-up false alarms against CV incorrect")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="DIR:VARIANT of a training.crossval run (the recipe's shipped reading)")
    parser.add_argument("weights", help="classifier.pt trained by the same recipe on the image split")
    add_data_args(parser)
    parser.add_argument("--scales", type=float, nargs="+", default=list(SCALES))
    parser.add_argument("--out", required=True, help="folder for tradeoff.json and tradeoff.png")
    args = parser.parse_args()
    folder, _, variant = args.run.partition(":")
    voc = load_data(parser, args)
    classifier = MaskClassifier(args.weights)
    full_bias, closeups = classifier.bias.clone(), read_voc(CLOSEUPS)
    rows = []
    for scale in args.scales:
        probs, y, _, datasets = rescore(folder, variant, voc, scale)
        pooled, each = summarize(y, probs), per_dataset(y, probs, datasets)
        row = {"scale": scale, "cv": {"aca": round(pooled["aca"], 4), "incorrect": round(pooled["acc_mask_worn_incorrectly"], 4),
                                      "with_mask": round(pooled["acc_with_mask"], 4),
                                      "per_dataset_aca": {k: round(v["aca"], 4) for k, v in each.items()}},
               "closeups": closeup_accuracy(classifier, closeups, scale, full_bias)}
        rows.append(row)
        print(json.dumps(row))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tradeoff.json").write_text(json.dumps({"run": args.run, "weights": args.weights, "rows": rows}, indent=1))
    plot(rows, out / "tradeoff.png")
    print(f"wrote {out}/tradeoff.json and tradeoff.png")


if __name__ == "__main__":
    main()
