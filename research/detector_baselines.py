"""Off-the-shelf face detectors behind the shipped classifier, scored by the project's own evaluation code.

    python -m research.detector_baselines --detector yunet --part test --out runs/pipeline_yunet
    python -m research.detector_baselines --detector yunet --upscale 2 --data ../shared/data/face-mask-detection --part test ...

Writes metrics.json like `training.evaluate --pipeline` (pooled and per dataset), plus the median CPU
milliseconds the detector took per image. Detectors and where their weights come from: research/baselines.py.
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from models.mask_classifier import MaskClassifier
from research import baselines
from training.data import add_data_args, load_data
from training.evaluate import detection_report, pipeline_predictions, select_part
from training.splits import PARTS

DETECTORS = {"haar": lambda a: baselines.haar_detector(), "mtcnn": lambda a: baselines.mtcnn_detector(),
             "yunet": lambda a: baselines.yunet_detector(a.upscale), "retinaface": lambda a: baselines.retinaface_detector(a.upscale),
             "rfb": lambda a: baselines.rfb_detector(a.upscale)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--detector", required=True, choices=sorted(DETECTORS))
    parser.add_argument("--upscale", type=float, default=1.0, help="yunet, retinaface, rfb: read images at this factor of their size")
    parser.add_argument("--part", choices=PARTS, default="test")
    parser.add_argument("--out", required=True, help="folder for metrics.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    images = select_part(load_data(parser, args), args.part)
    detect = DETECTORS[args.detector](args)
    detections, millis = [], []
    for im in images:
        rgb = im.load_rgb()
        start = time.perf_counter()
        detections.append(detect(rgb))
        millis.append((time.perf_counter() - start) * 1000)
    classifier = MaskClassifier()
    preds = pipeline_predictions(detections, classifier, images)
    report = {"detector": f"{args.detector}" + (f" x{args.upscale:g}" if args.upscale != 1 else ""), "classifier": classifier.name,
              "data": args.data, "part": args.part, "images": len(images), "detect_ms_median": statistics.median(millis),
              **detection_report(images, preds)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("detector", "images", "detect_ms_median", "face_ap50", "map50")}))
    for name, m in report["per_dataset"].items():
        print(name, json.dumps({k: round(m[k], 4) for k in ("face_ap50", "face_recall50", "map50")}))


if __name__ == "__main__":
    main()
