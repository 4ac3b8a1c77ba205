"""Score cross-validated classifier variants alone and averaged, from training.crossval's predictions.npz.

    python -m research.ensembles runs/cv_80:best runs/cv_96:best_tta --out research/results/crossval_recipes/variants_and_ensembles.md

Each MEMBER is RUN_DIR:VARIANT (variants: best, best_tta, last, last_tta). The ensemble averages the
members' temperature-scaled probabilities, on the folds' validation parts (pooled: what a recipe is
chosen on) and on their test parts (pooled: every face once). All runs must share the saved folds.
"""
import argparse
from pathlib import Path

import numpy as np

from training.metrics import summarize


def load_member(member: str) -> dict:
    run, _, variant = member.rpartition(":")
    data = np.load(Path(run) / "predictions.npz")
    return {"name": member, "test_idx": data["test_idx"], "val_labels": data["val_labels"], "test_labels": data["test_labels"],
            "val": data[f"{variant}_val"], "test": data[f"{variant}_test"]}


def row(name: str, y_val: np.ndarray, val: np.ndarray, y_test: np.ndarray, test: np.ndarray) -> str:
    v, t = summarize(y_val, val), summarize(y_test, test)
    per_class = " / ".join(f"{t[k]:.3f}" for k in ("acc_with_mask", "acc_without_mask", "acc_mask_worn_incorrectly"))
    return f"| {name} | {v['aca']:.3f} | {v['acc_mask_worn_incorrectly']:.3f} | {t['aca']:.3f} | {per_class} | {t['ece']:.3f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("members", nargs="+", help="RUN_DIR:VARIANT")
    parser.add_argument("--out", help="append the table to this Markdown file")
    args = parser.parse_args()
    members = [load_member(m) for m in args.members]
    first = members[0]
    for m in members[1:]:
        if not (np.array_equal(m["test_idx"], first["test_idx"]) and np.array_equal(m["val_labels"], first["val_labels"])):
            parser.error(f"{m['name']} was not run on the same folds as {first['name']}")
    lines = ["| classifier(s) | val ACA | val incorrect | CV ACA | CV with / without / incorrect | CV ECE |", "|---|---|---|---|---|---|"]
    lines += [row(f"`{m['name']}`", first["val_labels"], m["val"], first["test_labels"], m["test"]) for m in members]
    if len(members) > 1:
        mean = lambda part: np.mean([m[part] for m in members], axis=0)  # noqa: E731
        lines.append(row(f"mean of the {len(members)}", first["val_labels"], mean("val"), first["test_labels"], mean("test")))
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "a") as f:
            f.write(f"\n`python -m research.ensembles {' '.join(args.members)}`\n\n{table}\n")


if __name__ == "__main__":
    main()
