"""A Markdown table from the metrics.json files that `training.evaluate --pipeline` and `research.detector_baselines` wrote.

    python -m research.pipeline_table runs/pipeline_ours runs/pipeline_haar --out research/results/pipeline_table.md
"""
import argparse
import json
from pathlib import Path

# Published results on the full Kaggle dataset (853 images, their own splits): context, not a like-for-like comparison.
PUBLISHED = [("YOLOv8m, COCO-pretrained (published)", 0.911), ("modified YOLOv5 (published)", 0.848),
             ("Faster R-CNN (published)", 0.728)]


def row(name: str, m: dict) -> str:
    ap = m["ap50"]
    size = m["recall_by_size"]
    return (f"| {name} | {m['face_ap50']:.3f} | {m['face_recall50']:.3f} | {size['<16px']['recall']:.3f} | "
            f"{size['16-32px']['recall']:.3f} | {size['>32px']['recall']:.3f} | {ap['with_mask']:.3f} | {ap['without_mask']:.3f} | "
            f"{ap['mask_worn_incorrectly']:.3f} | **{m['map50']:.3f}** | {m['map50_95']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/pipeline_table.md"))
    args = parser.parse_args()
    folders = args.folders
    lines = ["# End to end on the image split's test part", "",
             "Every row but the published ones was measured by `python -m training.evaluate --pipeline --part test "
             "--out <folder>` (ours) or `python -m research.detector_baselines --detector <name> --part test --out <folder>`: the detector's boxes, each classified by the shipped classifier; "
             "score = detection score x class confidence; AP@0.5 per class with VOC all-point interpolation, "
             "mAP@[.5:.95] with COCO's 101-point interpolation; recall over all detections with score >= 0.05.", "",
             "| detector | face AP@0.5 | face recall | recall <16px | 16-32px | >32px | AP with_mask | AP without_mask | "
             "AP incorrect | mAP@0.5 | mAP@[.5:.95] |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        lines.append(row(f"{metrics['detector']} ({metrics['images']} images, {metrics['faces']} faces)", metrics))
    lines += [f"| {name} | | | | | | | | | {value:.3f} | |" for name, value in PUBLISHED]
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
