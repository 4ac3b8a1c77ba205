"""How the detector grows with its training images: the shipped recipe trained on a share of the train part.

    python -m training.train_detector --body retinaface --scales 448 480 512 544 576 --min-size 544 --max-size 725 \\
        --train-fraction 0.5 --epochs 20 --eval-every 4 --out runs/det_lc0.5      # the same steps as 10 epochs on all
    python -m research.face_init evaluate runs/det_lc0.5/detector.pt --part val --out runs/det_lc0.5/val_528.json
    python -m research.detector_learning_curve --point 0.25=runs/det_lc0.25/val_528.json \\
        --point 0.5=runs/det_lc0.5/val_528.json --point 1=VAL.json [--point 1=ANOTHER_DRAW.json] --out DIR

Each point is a val evaluation at the service's settings (`research.face_init evaluate`) of a detector trained on
`--train-fraction` of the train images (`training.splits.thin_images`; the count is recomputed here, and is the same
for every seed: each stratum keeps a rounded share).
Plots face AP@0.5 and mAP@0.5 per dataset and pooled against the training images on a log scale, takes the gain
over the last doubling (the two largest sizes, draws at one size averaged) as `score = a + b log2(images)` and writes
where that line would reach each dataset's test target (never, where the gain is under `MIN_GAIN`): an
extrapolation on val, marked as one.
"""
import argparse
import json
import math
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
MIN_GAIN = 0.005  # per doubling; smaller is inside what two draws of one recipe differ by (0.001-0.013): not rising


def read_point(path: Path, images: int) -> dict:
    """One val evaluation: face AP and mAP pooled and per dataset, with the training images behind it."""
    report = json.loads(path.read_text())
    point = {"file": str(path), "images": images, "pooled": {m: report[m] for m in METRICS}}
    point.update({name: {m: scores[m] for m in METRICS} for name, scores in report["per_dataset"].items()})
    return point


def series(points: list[dict], name: str, metric: str) -> list[dict]:
    """One score at each training-set size: the mean over the draws made at that size, in order of size."""
    sizes = sorted({p["images"] for p in points})
    return [{"images": n, "score": float(np.mean([p[name][metric] for p in points if p["images"] == n]))} for n in sizes]


def last_doubling(line: list[dict]) -> tuple[float, float]:
    """(gain per doubling, intercept) of the line through the two largest sizes: the marginal gain, which a
    fit through every size would overstate once the curve bends."""
    last = line[-2:]
    slope, intercept = np.polyfit(np.log2([p["images"] for p in last]), [p["score"] for p in last], 1)
    return float(slope), float(intercept)


def summary(points: list[dict]) -> list[dict]:
    """Per dataset and metric: the gain over the last doubling of the training images, and the images at which that
    line reaches the target (how many times this data's)."""
    rows = []
    for name, targets in TARGETS.items():
        for metric, target in targets.items():
            line = series(points, name, metric)
            gain = last_doubling(line)[0]
            at = crossing(line[-2:], "score", target, x="images") if gain >= MIN_GAIN else float("inf")
            rows.append({"dataset": name, "metric": metric, "target": target, "score": line[-1]["score"],
                         "per_doubling": gain, "images_at_target": at,
                         "times_this_data": at / line[-1]["images"]})
    return rows


def plot(points: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    x = [p["images"] for p in points]
    ahead = np.geomspace(sorted(set(x))[-2], max(x) * 8, 30)
    for ax, metric in zip(axes, METRICS):
        for name, label in ((KAGGLE, "Kaggle"), (ILC, "ILC"), ("pooled", "pooled")):
            slope, intercept = last_doubling(series(points, name, metric))
            drawn = ax.plot(x, [p[name][metric] for p in points], "o", label=label)[0]
            ax.plot(ahead, intercept + slope * np.log2(ahead), ":", color=drawn.get_color())
            if name in TARGETS:
                ax.axhline(TARGETS[name][metric], color=drawn.get_color(), linestyle="--", linewidth=0.8,
                           label=f"{label} test target {TARGETS[name][metric]}")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set(xlabel="training images (dotted: the last doubling's line, extrapolated to 8x)", title=f"val {METRICS[metric]}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(points: list[dict], rows: list[dict]) -> str:
    lines = ["| training images | pooled face AP / mAP | Kaggle face AP / mAP | ILC face AP / mAP | file |", "|---|---|---|---|---|"]
    lines += [f"| {p['images']} | " + " | ".join(f"{p[n]['face_ap50']:.3f} / {p[n]['map50']:.3f}" for n in ("pooled", KAGGLE, ILC))
              + f" | `{p['file']}` |" for p in points]
    lines += ["", "The last doubling's gain, extrapolated on log2(images) (on val, not a measurement; draws at one size averaged):", "",
              "| dataset | metric | val, all the data | gain over the last doubling | test target | images where its line reaches it "
              "| times this data |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {METRICS[r['metric']]} | {r['score']:.3f} | {r['per_doubling']:+.4f} | {r['target']} | "
              + (f"{r['images_at_target']:,.0f} | {r['times_this_data']:,.1f} |" if math.isfinite(r["images_at_target"])
                 else f"never: under {MIN_GAIN} a doubling | |") for r in rows]
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
    if len({fraction for fraction, _ in shares}) < 2:
        parser.error("--point: at least two fractions (a curve needs two sizes)")
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
