"""Do the CPU runtimes find the faces torch finds? Face by face, at the service's settings, on a part of the split.

    python -m research.backend_agreement --part test --backends openvino onnxruntime openvino:bf16 openvino-ir --out runs/agreement.json

Per backend: images whose faces match torch's one to one (same count, same labels, every box within 0.5 px),
the largest box difference, label disagreements, and faces found by one side only. Accuracy (mAP, face AP)
per backend: `training.evaluate --pipeline --backend NAME --precision P`.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench.backends import parse_backend
from models.loading import open_pipeline
from models.pipeline import MaskPipeline
from models.plan import resolve_plan
from training.data import add_data_args, load_data
from training.evaluate import select_part
from training.splits import PARTS


def compare(expected: list, faces: list) -> dict:
    """One image's faces against torch's, matched in order (both come best first)."""
    same_count = len(faces) == len(expected)
    boxes = np.array([f.box for f in faces]).reshape(-1, 4)
    reference = np.array([f.box for f in expected]).reshape(-1, 4)
    box_diff = float(np.abs(boxes - reference).max(initial=0)) if same_count else float("inf")
    labels = sum(a.label != b.label for a, b in zip(expected, faces)) if same_count else None
    return {"same": same_count and box_diff <= 0.5 and labels == 0, "box_diff": box_diff, "label_diffs": labels,
            "count_diff": len(faces) - len(expected)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--part", choices=PARTS, default="test")
    parser.add_argument("--backends", nargs="+", default=["openvino", "onnxruntime"], help="NAME, NAME:PRECISION or NAME:PRECISION:dynamic")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    images = select_part(load_data(parser, args), args.part)
    reference = MaskPipeline()
    pipelines = {}
    for b in args.backends:
        name, precision, static, _ = parse_backend(b)
        pipelines[b] = open_pipeline(resolve_plan("cpu", name, precision, threads=1), static_shapes=static)
    rows, faces = {b: [] for b in args.backends}, 0
    for im in tqdm(images, desc="images"):
        rgb = im.load_rgb()
        expected = reference(rgb)
        faces += len(expected)
        for b, pipeline in pipelines.items():
            rows[b].append(compare(expected, pipeline(rgb)))
    report = {"part": args.part, "images": len(images), "faces_torch": faces, "backends": {}}
    for b, rs in rows.items():
        finite = [r["box_diff"] for r in rs if np.isfinite(r["box_diff"])]
        report["backends"][b] = {"images_same": sum(r["same"] for r in rs), "images_count_differs": sum(r["count_diff"] != 0 for r in rs),
                                 "faces_gained": sum(max(r["count_diff"], 0) for r in rs),
                                 "faces_lost": sum(max(-r["count_diff"], 0) for r in rs),
                                 "label_diffs": sum(r["label_diffs"] or 0 for r in rs), "max_box_diff_px": max(finite, default=0.0)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
