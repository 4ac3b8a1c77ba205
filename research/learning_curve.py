"""How the classifier's rare class grows with its training data: cross-validation runs with `--rare-fraction`.

    python -m training.crossval --rare-fraction 0.5 --out runs/cv_rare0.5        # one point (0.25, 0.5, 0.75, 1)
    python -m research.learning_curve \
        --recipe "shipped recipe=runs/cv_rare0.25,runs/cv_rare0.5,runs/cv_rare0.75,runs/cv_80" \
        --out research/results/learning_curve

Each run trains every fold on a seeded share of its incorrectly-worn faces and tests on all of them. The script
counts the training faces each point had (mean over the folds), plots CV accuracy on the incorrect class and ACA
against that count on a log scale, fits `accuracy = a + b log2(faces)` per recipe and writes where that line would
cross the issue's target (0.88): an extrapolation, marked as one.
"""
import argparse
import json
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.crossval import fold_indices  # noqa: E402
from training.data import add_data_args, load_data  # noqa: E402
from training.faces import FaceTable  # noqa: E402
from training.splits import FOLDS_FILE, INCORRECT, load_split  # noqa: E402

TARGET_INCORRECT, TARGET_ACA = 0.88, 0.93


def curve_point(run: Path, table: FaceTable, voc: list, folds: list[list[str]]) -> dict:
    """One crossval run: its share of rare faces, their mean count per fold's training part, and its pooled scores."""
    report = json.loads((run / "crossval.json").read_text())
    fraction = report.get("rare_fraction", 1.0)
    counts = [int((table.labels[fold_indices(table, voc, stems, k, fraction)[0]] == INCORRECT).sum())
              for k, stems in enumerate(folds)]
    pooled = report["pooled"]
    return {"run": str(run), "fraction": fraction, "faces": float(np.mean(counts)),
            "incorrect": pooled["acc_mask_worn_incorrectly"], "aca": pooled["aca"]}


def crossing(points: list[dict], key: str, target: float, x: str = "faces") -> float:
    """The `x` (training faces by default) at which the least-squares line of `key` against log2(x) reaches `target`."""
    slope, intercept = np.polyfit(np.log2([p[x] for p in points]), [p[key] for p in points], 1)
    return float(2 ** ((target - intercept) / slope)) if slope > 1e-9 else float("inf")


def plot(curves: dict[str, list[dict]], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for ax, key, target, title in ((axes[0], "incorrect", TARGET_INCORRECT, "accuracy on mask_worn_incorrectly"),
                                   (axes[1], "aca", TARGET_ACA, "ACA")):
        for name, points in curves.items():
            x = [p["faces"] for p in points]
            line = ax.plot(x, [p[key] for p in points], "o-", label=name)[0]
            slope, intercept = np.polyfit(np.log2(x), [p[key] for p in points], 1)
            ahead = np.geomspace(min(x), max(x) * 4, 20)
            ax.plot(ahead, intercept + slope * np.log2(ahead), ":", color=line.get_color())
        ax.axhline(target, color="grey", linestyle="--", label=f"target {target}")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set(xlabel="incorrectly-worn training faces per fold (dotted: fitted line)", title=title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("5-fold image-level CV, pooled")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)  # the folders the crossval runs read
    parser.add_argument("--recipe", action="append", required=True, help="NAME=RUN_DIR,RUN_DIR,... (repeatable)")
    parser.add_argument("--out", required=True, help="folder for learning_curve.png, .md and .json")
    args = parser.parse_args()
    for recipe in args.recipe:
        missing = [r for r in recipe.partition("=")[2].split(",") if not (Path(r) / "crossval.json").is_file()]
        if "=" not in recipe or missing:
            parser.error(f"--recipe {recipe!r}: expected NAME=RUN_DIR,... with a crossval.json in each (missing: {missing})")
    voc = load_data(parser, args)
    table = FaceTable.from_voc(voc, load_images=False)
    folds = load_split(FOLDS_FILE)["folds"]
    curves = {}
    for recipe in args.recipe:
        name, runs = recipe.split("=", 1)
        curves[name] = sorted((curve_point(Path(r), table, voc, folds) for r in runs.split(",")), key=lambda p: p["faces"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(curves, out / "learning_curve.png")
    rows = ["| recipe | share of rare faces | rare training faces per fold | CV incorrect | CV ACA | run |", "|---|---|---|---|---|---|"]
    for name, points in curves.items():
        rows += [f"| {name} | {p['fraction']:.2f} | {p['faces']:.1f} | {p['incorrect']:.3f} | {p['aca']:.3f} | `{p['run']}` |" for p in points]
    rows += ["", "Extrapolated (least squares on log2 of the faces; an extrapolation, not a measurement):", ""]
    for name, points in curves.items():
        rows.append(f"- {name}: incorrect {TARGET_INCORRECT} at about {crossing(points, 'incorrect', TARGET_INCORRECT):.0f} "
                    f"rare training faces per fold, ACA {TARGET_ACA} at about {crossing(points, 'aca', TARGET_ACA):.0f} "
                    f"(this data gives {points[-1]['faces']:.0f})")
    (out / "learning_curve.md").write_text("\n".join(rows) + "\n")
    (out / "learning_curve.json").write_text(json.dumps(curves, indent=1))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
