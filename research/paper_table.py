"""Reproduce the paper's Fig. 4 table with its protocol, on both splits, over several seeds.

    python -m research.paper_table --seeds 3
    python -m research.paper_table --crops crops35.npz --budget-s 420   # on a lent GPU

Runs go seed-major (every row once, then every row again, ...) so a time budget still leaves every
row measured; runs already in the log are skipped, and `--seeds 0` only rewrites the tables. Each run is appended to OUT/paper_runs.jsonl and the tables are rewritten from it:
OUT/paper_table.md and OUT/paper_table.csv (`--out research/results` for the published ones). Rows whose ImageNet weights are not in the
torch hub cache train from scratch, and the table says so.
"""
import argparse
import csv
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from models.architectures import pretrained_available
from models.crops import to_tensor
from training.classifier_engine import fit, predict_logits
from training.data import KAGGLE_DATA
from training.device import pick_device
from training.faces import FaceTable
from training.metrics import summarize
from training.recipe import PRESETS, TrainConfig
from training.splits import part_indices
from training.voc import read_voc

# (row label, architecture, the paper's Mask / No Mask / Inc. Mask / ACA in percent)
ROWS: list[tuple[str, str, tuple[float, float, float, float] | None]] = [
    ("ResNet18", "resnet18", (96.03, 80.95, 23.08, 66.69)),
    ("ResNet18 w/ 2 FC Layers", "resnet18_2fc", (96.03, 83.33, 15.39, 64.92)),
    ("ResNet34", "resnet34", (89.80, 90.48, 30.77, 70.35)),
    ("Custom CNN with ReLU", "custom_relu", (90.94, 88.10, 46.15, 75.06)),
    ("Custom CNN with ReLU + BatchNorm", "custom_relu_bn", (93.77, 92.86, 69.23, 85.29)),
    ("Custom CNN with TanH", "custom_tanh", (86.69, 90.48, 53.85, 77.01)),
    ("Custom CNN with TanH + BatchNorm", "custom_tanh_bn", (86.97, 95.24, 46.15, 76.12)),
    ("VGG16", "vgg16", (93.48, 88.10, 69.23, 83.60)),
    ("VGG16 with BatchNorm", "vgg16_bn", (90.94, 71.43, 24.18, 62.18)),
    ("VGG19", "vgg19", (92.92, 95.24, 61.54, 83.23)),
    ("VGG19 with BatchNorm", "vgg19_bn", (90.94, 85.71, 30.77, 69.14)),
    ("DenseNet201", "densenet201", (98.87, 95.24, 23.10, 72.40)),
    ("DenseNet161", "densenet161", (98.58, 95.24, 46.15, 79.99)),
    ("DenseNet121", "densenet121", (95.75, 90.48, 30.77, 72.33)),
    ("MobileNetV2 (not in the paper)", "mobilenet_v2", None),
]
METRICS = ("acc_with_mask", "acc_without_mask", "acc_mask_worn_incorrectly", "aca")


def run_one(table: FaceTable, parts: dict, arch: str, seed: int, device, use_pretrained: bool, epochs: int | None) -> dict:
    pretrained = use_pretrained and pretrained_available(arch)
    cfg = dataclasses.replace(TrainConfig(**PRESETS["paper"]), arch=arch, pretrained=pretrained, seed=seed, epochs=epochs)
    result = fit(table, parts["train"], parts["val"], cfg, device, progress=False)
    x_test = to_tensor(table.crops(parts["test"], cfg.input_size, cfg.margin))
    m = summarize(table.labels[parts["test"]], predict_logits(result.model, x_test).softmax(1).numpy())
    return {"arch": arch, "seed": seed, "pretrained": pretrained, "best_epoch": result.best_epoch,
            "device": f"{device.type} (torch {torch.__version__.split('+')[0]})",
            "seconds": result.seconds, **{k: m[k] for k in METRICS}}


def _fmt(values: list[float]) -> str:
    values = 100 * np.asarray(values)
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}" if len(values) > 1 else f"{values.mean():.2f}"


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per (split, architecture): mean ± std over seeds, with the paper's numbers beside it."""
    out = []
    for split in ("face", "image"):
        for label, arch, paper in ROWS:
            mine = [r for r in runs if r["split"] == split and r["arch"] == arch]
            if not mine:
                continue
            row = {"split": split, "model": label, "arch": arch, "seeds": len(mine),
                   "init": "ImageNet" if mine[0]["pretrained"] else ("scratch" if arch.startswith("custom") else "scratch (no offline weights)"),
                   "seconds_per_run": float(np.mean([r["seconds"] for r in mine])),
                   "devices": ", ".join(sorted({f"{r['device']} x{sum(x['device'] == r['device'] for x in mine)}" for r in mine}))}
            for k in METRICS:
                row[k] = _fmt([r[k] for r in mine])
                row[k + "_mean"] = float(np.mean([r[k] for r in mine]))
            row["paper"] = " / ".join(f"{v:.2f}" for v in paper) if paper else "—"
            out.append(row)
    return out


def write_tables(runs: list[dict], out_dir: Path) -> None:
    rows = aggregate(runs)
    commands = sorted({(r["command"], r["device"]) for r in runs})
    with open(out_dir / "paper_table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["# The paper's Fig. 4 table, reproduced", "",
             "Runs accumulate in `paper_runs.jsonl`; they came from these commands:", "",
             *[f"- `{c}` on {d}" for c, d in commands], "",
             "Protocol: the paper's (35x35 crops, ImageNet mean/std, "
             "weighted cross-entropy w[c] = n_min/n_c, Adam lr 1e-5, weight decay 1e-2, batch 128, 40 epochs for the custom CNNs and 20 "
             "for the others, the weights of the epoch with the lowest validation loss). Accuracies in percent on the test part, "
             "mean ± sample std over the seeds counted in `seeds`. `paper` is Mask / No Mask / Inc. Mask / ACA from the paper.",
             "", "Only MobileNetV2 has ImageNet weights on this machine; every other transfer row is trained from scratch "
             "(`scratch (no offline weights)`), unlike the paper's pretrained runs.", ""]
    titles = {"face": "Face-level split (the paper's: faces 80/10/10 stratified by class)",
              "image": "Image-level split (no image contributes faces to two parts: the honest one)"}
    for split in ("face", "image"):
        part = [r for r in rows if r["split"] == split]
        if not part:
            continue
        lines += [f"## {titles[split]}", "", "| model | init | seeds | Mask | No Mask | Inc. Mask | ACA | paper | s/run | runs on |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['init']} | {r['seeds']} | {r['acc_with_mask']} | {r['acc_without_mask']} | "
                  f"{r['acc_mask_worn_incorrectly']} | **{r['aca']}** | {r['paper']} | {r['seconds_per_run']:.0f} | {r['devices']} |" for r in part]
        lines.append("")
    (out_dir / "paper_table.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=KAGGLE_DATA, help="VOC folder")
    parser.add_argument("--crops", help="an export_crops .npz at 35x35 instead of --data (for a machine without the images)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--splits", nargs="+", default=["face", "image"], choices=["face", "image"])
    parser.add_argument("--archs", nargs="+", help="only these architectures")
    parser.add_argument("--no-pretrained", action="store_true", help="train every row from scratch")
    parser.add_argument("--budget-s", type=float, default=float("inf"), help="start no new run after this many seconds")
    parser.add_argument("--epochs", type=int, help="override the paper's epochs (smoke runs only)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/paper_table", help="folder of the run log and tables (the published ones: research/results)")
    args = parser.parse_args()

    device = pick_device(args.device)
    table = FaceTable.from_crops(args.crops) if args.crops else FaceTable.from_voc(read_voc(args.data))
    parts = {split: part_indices(table, split) for split in args.splits}
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "paper_runs.jsonl"
    runs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["split"], r["arch"], r["seed"]) for r in runs}
    archs = [a for _, a, _ in ROWS if not args.archs or a in args.archs]
    start = time.perf_counter()
    command = "python -m research.paper_table " + " ".join(sys.argv[1:])
    for seed in range(args.seeds):
        for split in args.splits:
            for arch in archs:
                if (split, arch, seed) in done:
                    continue
                if time.perf_counter() - start > args.budget_s:
                    print("time budget spent; stopping", flush=True)
                    write_tables(runs, out_dir)
                    return
                run = {"split": split, "command": command,
                       **run_one(table, parts[split], arch, seed, device, not args.no_pretrained, args.epochs)}
                print(json.dumps(run), flush=True)
                runs.append(run)
                with open(log, "a") as f:
                    f.write(json.dumps(run) + "\n")
                write_tables(runs, out_dir)
    write_tables(runs, out_dir)


if __name__ == "__main__":
    main()
