"""Classifier recipes compared on the pooled out-of-fold evaluation, with a paired bootstrap over images.

    python -m research.pooled_ablation --arm base=runs/cv46_base --arm synthetic=runs/cv46_synth \
        --out research/results/labels/ablation

Each arm is a `training.crossval` run over the same 5 folds (every real face of both datasets tested once, by
the fold that never saw its image). Every arm is read the same way: the last epoch without TTA, with each fold's
ACA logit bias fitted on its own validation part (`research.cv_logit_bias`), as the shipped classifier is read.
The images of each dataset are then drawn with replacement, the same draw for every arm, and each draw's ACA and
incorrectly-worn accuracy are recomputed: the 95% interval of an arm's move against the first arm says whether
these images can tell it from chance. Per dataset and per face size (the annotated box's shorter side).
Writes ablation.json, ablation.md and ablation.png.

    python -m research.pooled_ablation --arm base=runs/cv46_base --routed small_faces=runs/cv46_96_lowres,runs/cv46_96 ...

A routed arm reads two runs, the first for the faces under 24 px and the second for the rest, or three, one per size
bin (under 24, 24-48, over 48 px), as a service that sends each face to a classifier by its size would. It routes by
the annotated box, as the groups are made. Any run may be an ensemble of runs, written DIR+DIR, and any run may be
read with flip TTA, written DIR:last_tta (the run's saved predictions of both views; DIR alone is DIR:last).
"""
import argparse
import json
import re
from pathlib import Path

import numpy as np

from research.cv_logit_bias import rescore
from training.data import add_data_args, load_data
from training.faces import FaceTable
from training.metrics import SIZE_BINS, size_bin
from training.splits import INCORRECT

NAMES = {"face-mask-detection": "Kaggle", "ilc-face-mask": "ILC"}


def scores(y: np.ndarray, correct: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(ACA, incorrectly-worn accuracy) of faces counted `weight` times each."""
    per_class = [np.sum(weight * correct * (y == c)) / max(np.sum(weight * (y == c)), 1e-9) for c in range(3)]
    return float(np.mean(per_class)), float(per_class[INCORRECT])


def groups(datasets: np.ndarray, sizes: np.ndarray) -> dict[str, np.ndarray]:
    """Faces of each reported group: both datasets, each dataset, each size, each dataset's sizes."""
    out = {"both": np.ones(len(datasets), bool)}
    for d in dict.fromkeys(datasets.tolist()):
        out[NAMES.get(d, d)] = datasets == d
    for s in SIZE_BINS:
        out[s] = sizes == s
    for d in dict.fromkeys(datasets.tolist()):
        for s in SIZE_BINS:
            out[f"{NAMES.get(d, d)}, {s}"] = (datasets == d) & (sizes == s)
    return out


def bootstrap(y: np.ndarray, correct: dict[str, np.ndarray], images: np.ndarray, members: dict[str, np.ndarray],
              samples: int, rng: np.random.Generator) -> dict:
    """Per group and arm: ACA, incorrect accuracy, faces, and the move against the first arm with its 95% interval."""
    arms = list(correct)
    draws = [np.bincount(rng.integers(0, images.max() + 1, images.max() + 1), minlength=images.max() + 1)[images]
             for _ in range(samples)]
    report = {}
    for group, mask in members.items():
        row = {"faces": int(mask.sum()), "incorrect_faces": int((y[mask] == INCORRECT).sum())}
        for arm in arms:
            aca, rare = scores(y[mask], correct[arm][mask], np.ones(mask.sum()))
            row[arm] = {"aca": round(aca, 4), "incorrect": round(rare, 4)}
            if arm == arms[0]:
                continue
            moves = np.array([np.subtract(scores(y[mask], correct[arm][mask], w[mask]),
                                          scores(y[mask], correct[arms[0]][mask], w[mask])) for w in draws])
            low, high = np.nanpercentile(moves, [2.5, 97.5], axis=0)
            row[arm]["move"] = {"aca": [round(aca - row[arms[0]]["aca"], 4), round(low[0], 4), round(high[0], 4)],
                                "incorrect": [round(rare - row[arms[0]]["incorrect"], 4), round(low[1], 4), round(high[1], 4)]}
        report[group] = row
    return report


def markdown(report: dict, arms: list[str], samples: int) -> str:
    lines = [f"ACA / incorrectly-worn accuracy per arm; against `{arms[0]}`, the move in ACA and in incorrect with the "
             f"95% interval of a paired bootstrap over images ({samples} draws).", "",
             "| faces | n (incorrect) | " + " | ".join(arms) + " | " + " | ".join(f"{a}: ACA move | {a}: incorrect move" for a in arms[1:]) + " |",
             "|---|---|" + "---|" * (len(arms) + 2 * (len(arms) - 1))]
    for group, row in report.items():
        cells = [f"{row[a]['aca']:.3f} / {row[a]['incorrect']:.3f}" for a in arms]
        moves = [f"{m[0]:+.3f} ({m[1]:+.3f}, {m[2]:+.3f})" for a in arms[1:] for m in (row[a]["move"]["aca"], row[a]["move"]["incorrect"])]
        lines.append(f"| {group} | {row['faces']} ({row['incorrect_faces']}) | " + " | ".join(cells + moves) + " |")
    return "\n".join(lines) + "\n"


def plot(report: dict, arms: list[str], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report)
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.3 * len(names) * (len(arms) - 1) + 1.5), sharey=True)
    for ax, metric in zip(axes, ("aca", "incorrect")):
        for k, arm in enumerate(arms[1:]):
            for y, group in enumerate(names):
                move, low, high = report[group][arm]["move"][metric]
                pos = y * (len(arms) - 1) + k
                ax.plot([low, high], [pos, pos], color=f"C{k}")
                ax.plot(move, pos, "o", color=f"C{k}", label=arm if y == 0 else None)
        ax.axvline(0, color="black", lw=0.5)
        ax.set(yticks=[y * (len(arms) - 1) for y in range(len(names))], yticklabels=names,
               title=f"{metric} move against {arms[0]}", xlabel="move, with the bootstrap's 95% interval")
    axes[0].invert_yaxis()  # the axes share it: once puts the first group on top
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run_variant(run: str) -> tuple[str, str]:
    """(DIR, variant) of a run written DIR, DIR:last or DIR:last_tta: the last epoch, as the service reads it."""
    folder, _, variant = run.partition(":")
    if variant not in ("", "last", "last_tta"):
        raise ValueError(f"{run}: a run is DIR, DIR:last or DIR:last_tta")
    return folder, variant or "last"


def last_epoch(run: str, voc: list) -> tuple[np.ndarray, np.ndarray]:
    """The faces a crossval run tested, and its last epoch's log-probabilities for each (with the fold's logit bias)."""
    folder, variant = run_variant(run)
    probs, _, _, _ = rescore(folder, variant, voc)
    return np.load(Path(folder) / "predictions.npz")["test_idx"], np.log(np.clip(probs, 1e-12, 1))


def arm_correct(spec: str, read: dict[str, tuple], sizes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether an arm got each face right: its run's answers, or a routed arm's, each face read from the run for its
    size bin: "SMALL_DIR,OTHER_DIR" (under 24 px, the rest) or "SMALL_DIR,MIDDLE_DIR,LARGE_DIR" (one per bin). A run
    written "DIR+DIR" is an ensemble: the mean of the runs' log-probabilities, as a service running both would read."""
    runs = spec.split(",")
    per_bin = runs + runs[-1:] * (len(SIZE_BINS) - len(runs))
    log_probs = [np.mean([read[f][1] for f in run.split("+")], axis=0) for run in per_bin]
    return np.select([(sizes == name)[:, None] for name in SIZE_BINS], log_probs).argmax(axis=1) == y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--arm", action="append", required=True, help="NAME=DIR of a training.crossval run (DIR:last_tta with flip TTA), or DIR+DIR, an ensemble of runs; the first is the reference")
    parser.add_argument("--routed", action="append", default=[],
                        help="NAME=SMALL_DIR,OTHER_DIR (faces under 24 px from SMALL_DIR, the rest from OTHER_DIR) or "
                             "NAME=SMALL_DIR,MIDDLE_DIR,LARGE_DIR (one run per size bin)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("runs/pooled_ablation"))
    args = parser.parse_args()
    voc = load_data(parser, args)
    table = FaceTable.from_voc(voc, load_images=False)
    arms = dict(a.split("=", 1) for a in args.arm + args.routed)
    if any(len(spec.split(",")) > len(SIZE_BINS) for spec in arms.values()):
        parser.error(f"a routed arm names at most {len(SIZE_BINS)} runs, one per size bin")
    runs = {run for spec in arms.values() for run in re.split("[,+]", spec)}
    try:
        read = {run: last_epoch(run, voc) for run in runs}
    except ValueError as err:
        parser.error(str(err))
    order = next(iter(read.values()))[0]
    if any(not np.array_equal(idx, order) for idx, _ in read.values()):
        parser.error("every run must test the same faces (the same folds)")
    sizes = size_bin(table.boxes[order])
    correct = {name: arm_correct(spec, read, sizes, table.labels[order]) for name, spec in arms.items()}
    members = groups(table.datasets[order], sizes)
    report = bootstrap(table.labels[order], correct, table.image_index[order], members, args.samples, np.random.default_rng(0))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.json").write_text(json.dumps({"arms": arms, "samples": args.samples, "groups": report}, indent=1) + "\n")
    (args.out / "ablation.md").write_text(markdown(report, list(arms), args.samples))
    plot(report, list(arms), args.out / "ablation.png")
    print(markdown(report, list(arms), args.samples))


if __name__ == "__main__":
    main()
