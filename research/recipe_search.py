"""Choose the MaskWatch classifier recipe on the image split's validation part (never on test data).

    python -m research.recipe_search --out research/results/recipe_search.md

Each candidate is the `maskwatch` preset with a few fields changed; it is trained on the image
split's train part and scored on its val part (ACA, incorrect-mask accuracy, weighted val loss).
"""
import argparse
import dataclasses
import json
import time
from pathlib import Path

from models.crops import to_tensor
from training.classifier_engine import fit, predict_logits
from training.data import KAGGLE_DATA
from training.device import pick_device
from training.faces import FaceTable
from training.metrics import summarize
from training.recipe import PRESETS, TrainConfig
from training.splits import part_indices
from training.voc import read_voc

# Run against the preset as it was then (56 px, flip TTA); the preset is now 80 px without TTA
# (research/results/crossval_recipes/), so each candidate spells those out.
TTA = dict(flip_tta=True)
CANDIDATES: dict[str, dict] = {
    "mnv2-64": dict(input_size=64, **TTA),
    "mnv2-56": dict(input_size=56, **TTA),
    "mnv2-48": dict(input_size=48, **TTA),
    "mnv2-56-margin0": dict(input_size=56, margin=0.0, **TTA),
    "mnv2-56-inverse-w": dict(input_size=56, class_weights="inverse", **TTA),
    "mnv2-56-no-aug": dict(input_size=56, augment=False, **TTA),
    "custom-bn-56-aug": dict(arch="custom_relu_bn", pretrained=False, input_size=56, epochs=40, **TTA),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=KAGGLE_DATA)
    parser.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", default="runs/recipe_search.md")
    args = parser.parse_args()
    device = pick_device()
    table = FaceTable.from_voc(read_voc(args.data))
    parts = part_indices(table, "image")
    rows = []
    for name in args.only or CANDIDATES:
        for seed in range(args.seeds):
            cfg = dataclasses.replace(TrainConfig(**PRESETS["maskwatch"]), seed=seed, **CANDIDATES[name])
            start = time.perf_counter()
            result = fit(table, parts["train"], parts["val"], cfg, device, progress=False)
            logits = predict_logits(result.model, to_tensor(table.crops(parts["val"], cfg.input_size, cfg.margin)), cfg.flip_tta)
            m = summarize(table.labels[parts["val"]], logits.softmax(1).numpy())
            row = {"candidate": name, "seed": seed, "val_loss": min(h["val_loss"] for h in result.history),
                   "aca": m["aca"], "incorrect": m["acc_mask_worn_incorrectly"], "seconds": time.perf_counter() - start}
            print(json.dumps(row), flush=True)
            rows.append(row)
    lines = ["| candidate | seed | best val loss | val ACA | val incorrect acc | train s |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['candidate']} | {r['seed']} | {r['val_loss']:.4f} | {r['aca']:.4f} | {r['incorrect']:.4f} | {r['seconds']:.0f} |" for r in rows]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    command = "python -m research.recipe_search" + (" --only " + " ".join(args.only) if args.only else "")
    Path(args.out).write_text(f"# Recipe search (image split, validation part)\n\nCommand: `{command}`\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
