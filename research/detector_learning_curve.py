"""How the detector grows with its training images: the shipped recipe trained on a share of the train part.

    python -m training.train_detector --body retinaface --scales 448 480 512 544 576 --min-size 544 --max-size 725 \\
        --train-fraction 0.5 --epochs 20 --eval-every 4 --out runs/det_lc0.5      # the same steps as 10 epochs on all
    python -m research.face_init evaluate runs/det_lc0.5/detector.pt --part val --out runs/det_lc0.5/val_528.json
    python -m research.detector_learning_curve --point 0.25=runs/det_lc0.25/val_528.json \\
        --point 0.5=runs/det_lc0.5/val_528.json --point 1=VAL.json [--point 1=ANOTHER_DRAW.json] --out DIR

Each point is a val evaluation at the service's settings (`research.face_init evaluate`) of a detector trained on
`--train-fraction` of the train images (`training.splits.thin_images`; the count is recomputed here, and is the same
for every seed: each stratum keeps a rounded share).
Plots face AP@0.5 and mAP@0.5 per dataset and pooled against the training images on a log scale, fits
`score = a + b log2(images)` per series and writes where each dataset's line would reach its test target: an
extrapolation on val, marked as one.
"""
import argparse
import json
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from research.learning_curve import crossing  # noqa: E402
from training.data import add_data_args, load_data  # noqa: E402
from training.splits import SPLIT_FILES, load_split, thin_images  # noqa: E402

KAGGLE, ILC = "face-mask-detection", "ilc-face-mask"
TARGETS = {KAGGLE: {"face_ap50": 0.95, "map50": 0.88}, ILC: {"face_ap50": 0.92, "map50": 0.85}}
METRICS = {"face_ap50": "face AP@0.5", "map50": "mAP@0.5 (3 classes)"}


def read_point(path: Path, images: int) -> dict:
    """One val evaluation: face AP and mAP pooled and per dataset, with the training images behind it."""
    report = json.loads(path.read_text())
    point = {"file": str(path), "images": images, "pooled": {m: report[m] for m in METRICS}}
    point.update({name: {m: scores[m] for m in METRICS} for name, scores in report["per_dataset"].items()})
    return point


def series(points: list[dict], name: str, metric: str) -> list[dict]:
    return [{"images": p["images"], "score": p[name][metric]} for p in points]


def slope_per_doubling(points: list[dict]) -> float:
    return float(np.polyfit(np.log2([p["images"] for p in points]), [p["score"] for p in points], 1)[0])


def summary(points: list[dict]) -> list[dict]:
    """Per dataset and metric: the gain per doubling of the training images, and the images at which the fitted
    line reaches the target (how many times this data's)."""
    most = max(p["images"] for p in points)
    rows = []
    for name, targets in TARGETS.items():
        for metric, target in targets.items():
            line = series(points, name, metric)
            at = crossing(line, "score", target, x="images")
            rows.append({"dataset": name, "metric": metric, "target": target, "per_doubling": slope_per_doubling(line),
                         "images_at_target": at, "times_this_data": at / most})
    return rows


def plot(points: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    x = [p["images"] for p in points]
    ahead = np.geomspace(min(x), max(x) * 8, 30)
    for ax, metric in zip(axes, METRICS):
        for name, label in ((KAGGLE, "Kaggle"), (ILC, "ILC"), ("pooled", "pooled")):
            line = series(points, name, metric)
            slope, intercept = np.polyfit(np.log2(x), [p["score"] for p in line], 1)
            drawn = ax.plot(x, [p["score"] for p in line], "o", label=label)[0]
            ax.plot(ahead, intercept + slope * np.log2(ahead), ":", color=drawn.get_color())
            if name in TARGETS:
                ax.axhline(TARGETS[name][metric], color=drawn.get_color(), linestyle="--", linewidth=0.8,
                           label=f"{label} test target {TARGETS[name][metric]}")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set(xlabel="training images (dotted: fitted line, extrapolated to 8x)", title=f"val {METRICS[metric]}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(points: list[dict], rows: list[dict]) -> str:
    lines = ["| training images | pooled face AP / mAP | Kaggle face AP / mAP | ILC face AP / mAP | file |", "|---|---|---|---|---|"]
    lines += [f"| {p['images']} | " + " | ".join(f"{p[n]['face_ap50']:.3f} / {p[n]['map50']:.3f}" for n in ("pooled", KAGGLE, ILC))
              + f" | `{p['file']}` |" for p in points]
    lines += ["", "Fitted on log2(images) (an extrapolation on val, not a measurement):", "",
              "| dataset | metric | gain per doubling | test target | images where the line reaches it | times this data |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {METRICS[r['metric']]} | {r['per_doubling']:+.3f} | {r['target']} | "
              f"{r['images_at_target']:,.0f} | {r['times_this_data']:,.1f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)  # to count the training images of each share
    parser.add_argument("--point", action="append", required=True, help="FRACTION=VAL_JSON (repeatable; several draws may share a fraction)")
    parser.add_argument("--out", required=True, help="folder for learning_curve.png, .md and .json")
    args = parser.parse_args()
    shares = []
    for point in args.point:
        fraction, _, path = point.partition("=")
        try:
            share = float(fraction)
        except ValueError:
            share = -1.0
        if not 0 < share <= 1 or not Path(path).is_file():
            parser.error(f"--point {point!r}: expected FRACTION=VAL_JSON, a fraction in (0, 1] and an existing file")
        shares.append((share, Path(path)))
    voc = {im.stem: im for im in load_data(parser, args)}
    train = [voc[s] for s in load_split(SPLIT_FILES["image"])["train"] if s in voc]
    points = sorted((read_point(path, len(thin_images(train, fraction))) for fraction, path in shares), key=lambda p: p["images"])
    rows = summary(points)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(points, out / "learning_curve.png")
    text = table(points, rows)
    (out / "learning_curve.md").write_text(text)
    (out / "learning_curve.json").write_text(json.dumps({"points": points, "fits": rows}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
