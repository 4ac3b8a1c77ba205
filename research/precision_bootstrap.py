"""Can a reduced precision's accuracy move be told from chance? A paired bootstrap over images.

    python -m research.precision_bootstrap --parts test val --out research/results/runtimes/static_shapes/bootstrap
    python -m research.precision_bootstrap --parts val+test --options int8 "int8 detector" "int8 classifier" --out DIR

The served fp32 pipeline and each option (bf16 or int8 on both networks or on one) read the same images of each
part (`val+test` pools the two parts, every image the shipped networks never trained on); the images of a dataset
are then drawn with replacement `--samples` times, the same draw for fp32 and the option, and each draw's moves
are recomputed: mAP@0.5, face AP@0.5, and ACA and incorrectly-worn accuracy of the classifier on the annotated
boxes. The 95% interval of a move says how far these images alone would move it: a move whose interval spans both
-0.005 and +0.005 cannot show that it passes or fails the 0.005 rule for a CPU default
(research/results/runtimes/README.md, "Static shapes, bf16 and int8"); incorrectly-worn accuracy may lose one point.
Writes bootstrap.json, bootstrap.md and bootstrap.png.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from models.ir_pipeline import IRPipeline
from models.labels import CLASSES
from research.network_precision import mixed_pipeline
from training.data import add_data_args, load_data
from training.detection_metrics import match, voc_ap
from training.evaluate import batched_detections, pipeline_predictions, select_part

RULE = 0.005
RULE_INCORRECT = 0.01  # the incorrectly-worn accuracy a default may lose against fp32: one point
METRICS = ("map50", "face_ap50", "aca", "incorrect")
NAMES = {"face-mask-detection": "Kaggle", "ilc-face-mask": "ILC"}


OPTIONS = {"bf16": ("bf16", "bf16"), "bf16 detector": ("bf16", "fp32"), "int8": ("int8", "int8"),
           "int8 detector": ("int8", "fp32"), "int8 classifier": ("fp32", "int8")}  # (detector, classifier)


def pipelines(options: list[str]) -> dict[str, IRPipeline]:
    return {"fp32": mixed_pipeline("fp32", "fp32"), **{name: mixed_pipeline(*OPTIONS[name]) for name in options}}


def records(images: list, preds: list[tuple], pipeline: IRPipeline) -> list[dict]:
    """Per image, per metric ("face" and each class): the scores of its detections, which are true positives, and
    its ground-truth count; VOC matching within one image does not depend on the others. "labels": the annotated
    faces' labels and the pipeline's on their annotated boxes, each face labelled as served (`models.face_sizes`)."""
    out = []
    for im, (boxes, labels, scores, _, _) in zip(images, preds):
        per = {"face": match([im.boxes], [(boxes, scores)], 0.5)[:3]}
        for c, name in enumerate(CLASSES):
            per[name] = match([im.boxes[im.labels == c]], [(boxes[labels == c], scores[labels == c])], 0.5)[:3]
        per["labels"] = (im.labels, pipeline.predict_boxes(im.load_rgb(), im.boxes).argmax(1))
        out.append(per)
    return out


def ap(per_image: list[dict], draw: np.ndarray, key: str) -> float:
    scores = np.concatenate([per_image[i][key][0] for i in draw])
    tp = np.concatenate([per_image[i][key][1] for i in draw])
    return voc_ap(tp[np.argsort(-scores, kind="stable")], sum(per_image[i][key][2] for i in draw))


def metrics(per_image: list[dict], draw: np.ndarray) -> tuple[float, float, float, float]:
    """(mAP@0.5, face AP@0.5, ACA and incorrectly-worn accuracy on the annotated boxes) of the images `draw`
    (indices, repeats allowed)."""
    y = np.concatenate([per_image[i]["labels"][0] for i in draw])
    right = np.concatenate([per_image[i]["labels"][1] for i in draw]) == y
    per_class = [right[y == c].mean() if (y == c).any() else np.nan for c in range(len(CLASSES))]
    return (float(np.nanmean([ap(per_image, draw, name) for name in CLASSES])), ap(per_image, draw, "face"),
            float(np.nanmean(per_class)), float(per_class[CLASSES.index("mask_worn_incorrectly")]))


def bootstrap(reference: list[dict], option: list[dict], samples: int, rng: np.random.Generator) -> dict:
    everyone = np.arange(len(reference))
    observed = np.subtract(metrics(option, everyone), metrics(reference, everyone))
    moves = np.array([np.subtract(metrics(option, d), metrics(reference, d))
                      for d in (rng.integers(0, len(reference), len(reference)) for _ in range(samples))])
    low, high = np.nanpercentile(moves, [2.5, 97.5], axis=0)
    return {name: {"move": round(float(observed[k]), 4), "interval_95": [round(float(low[k]), 4), round(float(high[k]), 4)]}
            for k, name in enumerate(METRICS)}


def verdict(move: dict, rule: float = RULE) -> str:
    low, high = move["interval_95"]
    if -rule <= low and high <= rule:
        return f"within {rule:g}"
    if high < -rule or low > rule:
        return f"beyond {rule:g}"
    return "cannot tell"


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(f"{part} {NAMES.get(dataset, dataset)} {option}", metric, move) for part, datasets in report["parts"].items()
            for dataset, options in datasets.items() for option, moves in options.items() for metric, move in moves.items()]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.35 * len(rows) / len(METRICS) + 1.5), sharey=True)
    for ax, metric in zip(axes, ("map50", "incorrect")):
        chosen = [(label, move) for label, m, move in rows if m == metric]
        for y, (label, move) in enumerate(chosen):
            ax.plot(move["interval_95"], [y, y], color="grey")
            ax.plot(move["move"], y, "o", color="black")
        rule = RULE if metric == "map50" else RULE_INCORRECT
        ax.axvspan(-rule, rule, color="green", alpha=0.15, label=f"the rule: {rule:g} either way")
        ax.axvline(0, color="black", lw=0.5)
        ax.set(yticks=range(len(chosen)), yticklabels=[label for label, _ in chosen], title=f"{metric} move against fp32",
               xlabel="move, with the bootstrap's 95% interval")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(report: dict) -> str:
    lines = [f"Paired bootstrap, {report['samples']} draws of each dataset's images: the move against fp32 and its 95% "
             "interval (`python -m research.precision_bootstrap`).", "",
             "| part | dataset | option | mAP@0.5 move (95%) | face AP move (95%) | incorrect move, annotated boxes (95%) "
             "| mAP vs the rule | incorrect vs 1 point |",
             "|---|---|---|---|---|---|---|---|"]
    for part, datasets in report["parts"].items():
        for dataset, options in datasets.items():
            for option, m in options.items():
                cells = [f"{m[k]['move']:+.4f} ({m[k]['interval_95'][0]:+.4f}, {m[k]['interval_95'][1]:+.4f})" for k in ("map50", "face_ap50", "incorrect")]
                lines.append(f"| {part} | {dataset} | {option} | {' | '.join(cells)} | {verdict(m['map50'])} | {verdict(m['incorrect'], RULE_INCORRECT)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--parts", nargs="+", default=["test", "val"], help="parts of the image split; val+test pools two")
    parser.add_argument("--options", nargs="+", choices=sorted(OPTIONS), default=["bf16", "bf16 detector", "int8"])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/precision_bootstrap"))
    args = parser.parse_args()
    data, options, rng = load_data(parser, args), pipelines(args.options), np.random.default_rng(args.seed)
    report = {"samples": args.samples, "seed": args.seed, "parts": {}}
    for part in args.parts:
        images = [im for name in part.split("+") for im in select_part(data, name)]
        found = {name: records(images, pipeline_predictions(batched_detections(p, images, 1), p, images), p)
                 for name, p in options.items()}
        report["parts"][part] = {}
        for dataset in dict.fromkeys(im.dataset for im in images):
            chosen = [i for i, im in enumerate(images) if im.dataset == dataset]
            report["parts"][part][dataset] = {
                name: bootstrap([found["fp32"][i] for i in chosen], [found[name][i] for i in chosen], args.samples, rng)
                for name in options if name != "fp32"}
            print(part, dataset, json.dumps(report["parts"][part][dataset]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bootstrap.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "bootstrap.md").write_text(markdown(report))
    plot(report, args.out / "bootstrap.png")
    print(markdown(report))


if __name__ == "__main__":
    main()
