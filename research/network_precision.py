"""The served openvino-ir pipeline with each network at its own precision: which network's reduced precision moves
the accuracy (research/results/runtimes/README.md, "Static shapes, bf16 and int8").

    python -m research.network_precision --detector bf16 --classifier fp32 --part test --out runs/bf16_detector

Writes `training.evaluate --pipeline`'s metrics (metrics.json, the same report) for the pipeline whose detector
and classifier run at the given precisions, at the service's settings.
"""
import argparse
import json
import os
from pathlib import Path

from models.defaults import DEFAULT_EXPORT
from models.ir_pipeline import IRPipeline
from training.data import add_data_args, load_data
from training.evaluate import batched_detections, detection_report, pipeline_predictions, select_part

PRECISIONS = ("fp32", "bf16", "int8")


def mixed_pipeline(detector: str, classifier: str, folder: Path = DEFAULT_EXPORT) -> IRPipeline:
    """The served pipeline of export `folder` (as many threads as training.evaluate gives it) with its networks at
    these precisions."""
    threads = len(os.sched_getaffinity(0))
    pipeline = IRPipeline(folder, precision=classifier, threads=threads)
    if detector != classifier:
        pipeline.detector = IRPipeline(folder, precision=detector, threads=threads).detector
    return pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--detector", choices=PRECISIONS, required=True)
    parser.add_argument("--classifier", choices=PRECISIONS, required=True)
    parser.add_argument("--part", choices=("train", "val", "test"), required=True)
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="exported networks (default: the shipped ones)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    images = select_part(load_data(parser, args), args.part)
    pipeline = mixed_pipeline(args.detector, args.classifier, args.export)
    preds = pipeline_predictions(batched_detections(pipeline, images, 1), pipeline.classifier, images)
    report = {"part": args.part, "images": len(images), "detector_precision": args.detector,
              "classifier_precision": args.classifier, **pipeline.info, **detection_report(images, preds)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({name: {k: round(v, 4) for k, v in m.items() if k in ("map50", "face_ap50")}
                      for name, m in report["per_dataset"].items()}, indent=1))


if __name__ == "__main__":
    main()
