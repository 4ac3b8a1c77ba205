"""int8 networks for the torch-free CPU pipeline, by NNCF's accuracy-controlled post-training quantisation.

    pip install nncf==3.4.0
    python -m training.quantize                      # models/weights/openvino/ -> its *-int8.xml files
    python -m training.quantize --export DIR --max-drop 0.003

Each network of an export (`python -m models.export`) is quantised on train-part images (the detector: images as
it reads them; the classifier: their annotated face crops), and NNCF keeps in fp32 the layers whose int8 version
costs most, until the val-part metric (the detector's face AP@0.5, the classifier's ACA on annotated faces) is
within `--max-drop` of fp32. Writes detector-int8.xml/.bin and classifier-int8.xml/.bin beside the fp32 files and
their record under "int8" in export.json; the service runs them with MASKWATCH_PRECISION=int8.
"""
import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import openvino
from tqdm import tqdm

from models.crops import crop_faces, normalise
from models.defaults import DEFAULT_EXPORT, DETECTOR_SCALE, long_side
from models.errors import BackendError
from models.export_format import read_export
from models.ir_pipeline import Frame, IRDetector
from training.data import add_data_args, load_data
from training.detection_metrics import face_ap50
from training.metrics import aca, calibrated_probs, confusion_matrix
from training.splits import SPLIT_FILES, load_split


def network_input(detector: IRDetector, rgb: np.ndarray) -> tuple[np.ndarray, Frame]:
    """The raw exported network's input for `rgb` (resized, padded to 32, normalised NCHW) and where the image lies in it."""
    x, frame = detector.prepare(rgb)
    return ((x - detector.mean) / detector.std).transpose(0, 3, 1, 2).copy(), frame


def detector_items(detector: IRDetector, images: list) -> list[tuple]:
    """Per image: the raw network's input, where the image lies in it, its faces."""
    return [(*network_input(detector, im.load_rgb()), im.boxes) for im in tqdm(images, desc="detector inputs", leave=False)]


def classifier_items(config: dict, images: list) -> list[tuple]:
    """Per image with faces: its annotated face crops, normalised NCHW, and their labels."""
    return [(normalise(crop_faces(im.load_rgb(), im.boxes, config["input_size"], config["margin"])), im.labels)
            for im in tqdm(images, desc="classifier inputs", leave=False) if len(im.labels)]


def detector_metric(detector: IRDetector):
    def face_ap(network, items) -> tuple[float, None]:
        items = list(items)
        found = [detector.decode(list(network(x).to_tuple()), frame) for x, frame, _ in items]
        return face_ap50([boxes for _, _, boxes in items], found), None
    return face_ap


def classifier_metric(config: dict):
    def mean_class_accuracy(network, items) -> tuple[float, None]:
        items = list(items)
        views = (lambda x: (x, np.ascontiguousarray(x[..., ::-1]))) if config["flip_tta"] else (lambda x: (x,))  # as the service reads them
        logits = np.concatenate([np.mean([network(v).to_tuple()[0] for v in views(x)], 0) for x, _ in items])
        predicted = calibrated_probs(logits, config["temperature"], np.float32(config["logit_bias"])).argmax(1)
        return aca(confusion_matrix(np.concatenate([labels for _, labels in items]), predicted)), None
    return mean_class_accuracy


def quantise(path: Path, calibration: list, validation: list, metric, max_drop: float, subset_size: int) -> tuple[object, dict]:
    """`path`'s network quantised to int8 within `max_drop` of its fp32 `metric` on `validation`."""
    import nncf

    core = openvino.Core()
    network = core.read_model(str(path))
    fp32 = metric(core.compile_model(network, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}), validation)[0]
    start = time.perf_counter()
    quantised = nncf.quantize_with_accuracy_control(
        network, nncf.Dataset(calibration, lambda item: item[0]), nncf.Dataset(validation, lambda item: item[0]),
        metric, max_drop=max_drop, subset_size=subset_size)
    int8 = metric(core.compile_model(quantised, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}), validation)[0]
    return quantised, {"val_fp32": round(fp32, 4), "val_int8": round(int8, 4), "max_drop": max_drop,
                       "calibration_items": len(calibration), "validation_items": len(validation),
                       "minutes": round((time.perf_counter() - start) / 60, 1)}


def open_parts(parser: argparse.ArgumentParser, args: argparse.Namespace, command: str) -> tuple[dict, list, list, list]:
    """`args.export`'s record and the calibration, train and val images of `args.data` by `args.split_file`; a
    parser error, saying what to install or run, where NNCF, the export or a part is missing."""
    try:
        import nncf  # noqa: F401  (here: only the quantising commands need it)
        config = read_export(args.export)
    except ImportError:
        parser.error(f"{command} needs NNCF: pip install nncf==3.4.0")
    except BackendError as err:
        parser.error(str(err))
    data = load_data(parser, args)
    split = load_split(args.split_file)
    train, val = ([im for im in data if im.stem in set(split[part])] for part in ("train", "val"))
    if not train or not val:
        parser.error(f"no image of --data is in the train or val part of {args.split_file}")
    return config, train[::max(1, len(train) // args.calibration)][:args.calibration], train, val


@contextmanager
def int8_files(export: Path, config: dict, networks: list[str]) -> Iterator[tuple[Path, dict]]:
    """A folder for the int8 files of `networks` and the "int8" record to fill; on leaving, both replace the
    export's together, so that a failure leaves the export as it was."""
    record = config.get("int8", {})
    with tempfile.TemporaryDirectory(dir=export) as tmp:
        yield Path(tmp), record
        (Path(tmp) / "export.json").write_text(json.dumps({**config, "int8": record}, indent=1) + "\n")
        for path in Path(tmp).iterdir():
            path.replace(export / path.name)
    print(f"wrote the int8 networks of {', '.join(networks)} to {export}: MASKWATCH_PRECISION=int8 runs them")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--split-file", default=str(SPLIT_FILES["image"]), help="image-level split (training.make_splits --out)")
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="folder `python -m models.export` wrote")
    parser.add_argument("--max-drop", type=float, default=0.003, help="largest val metric drop allowed (absolute)")
    parser.add_argument("--calibration", type=int, default=300, help="train-part images to calibrate on")
    parser.add_argument("--networks", nargs="+", choices=("detector", "classifier"), default=["detector", "classifier"])
    args = parser.parse_args()
    config, calibration, _, val = open_parts(parser, args, "training.quantize")
    # the service's read size, dynamic shape: the int8 file is reshaped to each static shape as the fp32 one is
    detector = IRDetector(args.export / "detector.xml", config["detector"], len(os.sched_getaffinity(0)), "fp32",
                          DETECTOR_SCALE, long_side(DETECTOR_SCALE), static=False)
    jobs = {"detector": lambda: (detector_items(detector, calibration), detector_items(detector, val), detector_metric(detector)),
            "classifier": lambda: (classifier_items(config["classifier"], calibration), classifier_items(config["classifier"], val),
                                   classifier_metric(config["classifier"]))}
    with int8_files(args.export, config, args.networks) as (folder, record):
        for name in args.networks:
            calibration_items, validation_items, metric = jobs[name]()
            network, record[name] = quantise(args.export / f"{name}.xml", calibration_items, validation_items, metric,
                                             args.max_drop, len(calibration_items))
            openvino.save_model(network, folder / f"{name}-int8.xml", compress_to_fp16=False)
            record[name]["sha256"] = config[name]["sha256"]
            print(name, json.dumps(record[name]))

if __name__ == "__main__":
    main()
