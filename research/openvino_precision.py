"""What OpenVINO runs when no precision is asked for, and what that does to the detector's time.

    python -m research.openvino_precision --out research/results/runtimes/static_shapes/openvino_precision.json

On a CPU with bf16 units OpenVINO's CPU plugin infers in bf16 unless told f32. The CPU-speed issue timed the
exported detector without a hint; `models/ir_pipeline.py` always sets one. This times the detector compiled for
one static shape (544 x 704, the 4:3 photos' input) and on its dynamic shape, with no hint, f32 and bf16, taking
turns, on random input, 2 threads, LATENCY.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import openvino

from models.defaults import DEFAULT_EXPORT

SHAPE = (1, 3, 544, 704)


def compiled(core: openvino.Core, static: bool, hint: str | None):
    network = core.read_model(str(DEFAULT_EXPORT / "detector.xml"))
    if static:
        network.reshape(list(SHAPE))
    config = {"INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "LATENCY", **({"INFERENCE_PRECISION_HINT": hint} if hint else {})}
    return core.compile_model(network, "CPU", config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    core = openvino.Core()
    variants = {f"{'static' if static else 'dynamic'} {hint or 'no hint'}": compiled(core, static, hint)
                for static in (True, False) for hint in (None, "f32", "bf16")}
    x = np.random.default_rng(0).standard_normal(SHAPE, dtype=np.float32)
    requests = {name: model.create_infer_request() for name, model in variants.items()}
    times = {name: [] for name in variants}
    for i in range(args.runs + 5):  # the first 5 rounds warm up
        for name, request in requests.items():
            start = time.perf_counter()
            request.infer([x])
            if i >= 5:
                times[name].append(time.perf_counter() - start)
    report = {"cpu_capabilities": core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"), "shape": SHAPE,
              "runs": args.runs, "openvino": openvino.__version__,
              "variants": {name: {"inference_precision": variants[name].get_property("INFERENCE_PRECISION_HINT").to_string(),
                                  "median_ms": round(float(np.median(t)) * 1000, 2)} for name, t in times.items()}}
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
