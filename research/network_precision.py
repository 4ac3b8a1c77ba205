"""`training.evaluate` with each openvino-ir network at its own precision: which network's reduced precision moves
the accuracy (research/results/runtimes/README.md, "Static shapes, bf16 and int8").

    python -m research.network_precision --detector bf16 --classifier fp32 -- --pipeline --part test \
        --backend openvino-ir --out runs/bf16_detector

Everything after `--` goes to `training.evaluate`; its own --precision stays fp32, and each network is compiled
at the precision given here instead (OpenVINO's inference precision: f32 or bf16).
"""
import argparse
import runpy
import sys

import models.ir_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", choices=("fp32", "bf16"), required=True)
    parser.add_argument("--classifier", choices=("fp32", "bf16"), required=True)
    parser.add_argument("evaluate", nargs=argparse.REMAINDER, help="-- then training.evaluate's arguments")
    args = parser.parse_args()
    compile_ir = models.ir_pipeline.compile_ir

    def per_network(path, threads, precision, *rest, **options):
        return compile_ir(path, threads, args.detector if "detector" in path.name else args.classifier, *rest, **options)

    models.ir_pipeline.compile_ir = per_network  # IRDetector and IRClassifier look it up when they compile
    sys.argv = ["training.evaluate", *[a for a in args.evaluate if a != "--"]]
    runpy.run_module("training.evaluate", run_name="__main__")


if __name__ == "__main__":
    main()
