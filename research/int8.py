"""int8 by post-training quantisation (NNCF) of the OpenVINO networks: how much faster, and what it costs.

    pip install nncf==3.4.0
    python -m research.int8 --calibration-images 64 --out runs/int8

Both networks are quantised with NNCF's default preset on inputs from the train part (detector: that many
images as the detector reads them; classifier: their ground-truth face crops), then the test parts are read
at the service's settings: accuracy (per dataset) and the time of detect + classify per Kaggle test image,
OpenVINO fp32 and int8 alternated. Research only: the service has no calibration data to quantise with.
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from models.crops import to_tensor
from models.detector import DetectorNetwork, image_tensor
from models.pipeline import MaskPipeline
from models.runtime import onnx_bytes
from training.data import add_data_args, load_data
from training.evaluate import detection_report, pipeline_predictions, select_part


def quantised(module: torch.nn.Module, example: torch.Tensor, outputs: list[str], samples: list[np.ndarray], threads: int):
    """`module` exported, quantised to int8 on `samples` and compiled by OpenVINO; a function like `compile_network`'s."""
    import nncf
    import openvino

    core = openvino.Core()
    model = core.read_model(onnx_bytes(module, example, outputs), b"")
    model = nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples))
    request = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()
    return lambda x: tuple(torch.from_numpy(a) for a in request.infer([np.ascontiguousarray(x.numpy(), dtype=np.float32)]).to_tuple())


def to_int8(pipeline: MaskPipeline, calibration: list, threads: int) -> None:
    """Swap a torch pipeline's networks for OpenVINO int8 ones calibrated on `calibration` (VOC images)."""
    detector, classifier = pipeline.detector, pipeline.classifier
    detector_inputs, crops = [], []
    for im in calibration:
        rgb = im.load_rgb()
        detector_inputs.append(detector.transform([image_tensor(pipeline.shrink(rgb))])[0].tensors.numpy())
        crops.append(classifier.crops(rgb, im.boxes))
    short, long = (-(-side // 32) * 32 for side in pipeline.read_size)
    detector.network = quantised(DetectorNetwork(detector), torch.zeros(1, 3, short, long), DetectorNetwork.OUTPUTS, detector_inputs, threads)
    faces = to_tensor(torch.from_numpy(np.concatenate(crops))).numpy()
    size = classifier.spec.input_size
    run = quantised(classifier.model, torch.zeros(1, 3, size, size), ["logits"], [f[None] for f in faces[:512]], threads)
    classifier.model = lambda x: run(x)[0]


def median_ms(pipeline: MaskPipeline, images: list[np.ndarray]) -> list[float]:
    times = []
    for rgb in images:
        start = time.perf_counter()
        pipeline(rgb)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--calibration-images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    data = load_data(parser, args)
    fp32 = MaskPipeline(backend="openvino")
    int8 = MaskPipeline()  # torch networks, replaced by int8 ones
    train = select_part(data, "train")
    to_int8(int8, train[::max(1, len(train) // args.calibration_images)][:args.calibration_images], threads)
    test = select_part(data, "test")
    report = {"calibration_images": args.calibration_images}
    for name, pipeline in (("openvino_fp32", fp32), ("openvino_int8", int8)):
        detections = [pipeline.detect(im.load_rgb()) for im in test]
        report[name] = detection_report(test, pipeline_predictions(detections, pipeline.classifier, test))
    kaggle = [im.load_rgb() for im in test if im.dataset == "face-mask-detection"]
    times = {"openvino_fp32": [], "openvino_int8": []}
    for _ in range(args.rounds):
        times["openvino_fp32"] += median_ms(fp32, kaggle)
        times["openvino_int8"] += median_ms(int8, kaggle)
    report["detect_classify_median_ms"] = {k: round(statistics.median(v), 1) for k, v in times.items()}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "int8.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: ({d: (round(m["map50"], 4), round(m["face_ap50"], 4)) for d, m in v["per_dataset"].items()}
                          if isinstance(v, dict) and "per_dataset" in v else v) for k, v in report.items()}, indent=1))


if __name__ == "__main__":
    main()
