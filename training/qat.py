"""int8 networks for the torch-free CPU pipeline, by quantisation-aware fine-tuning with NNCF.

    pip install nncf==3.4.0
    python -m training.qat                                   # models/weights/*.pt -> models/weights/openvino/*-int8.xml
    python -m training.qat --networks classifier --epochs 3 --export DIR --classifier-weights PT

Each network is read from its torch weights; NNCF inserts its int8 quantisers, their ranges set on train-part
images as `training.quantize` sets them; then the quantised network is fine-tuned on the train part with the fp32
network as its teacher. The teacher is fp32 because the rule for a CPU default measures the move against it: the
classifier learns the fp32 logits of the annotated face crops (squared error), the detector the fp32 head outputs
on whole images read as the service reads them (`training.detector_engine.distil_loss`). Writes
detector-int8.xml/.bin and classifier-int8.xml/.bin beside the fp32 files of `--export` (which must have been
exported from the same weights) and their record under "int8" in export.json: how long it took, and how close to
fp32 each epoch left the network on val. The service runs them with MASKWATCH_PRECISION=int8.
"""
import argparse
import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import openvino
import torch
from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder
from tqdm import tqdm

from models.defaults import DEFAULT_CLASSIFIER, DEFAULT_DETECTOR, DEFAULT_EXPORT, DETECTOR_SCALE, long_side
from models.detector import DetectorNetwork
from models.digest import sha256_of
from models.export import classifier_config, detector_config
from models.ir_pipeline import IRDetector
from training.data import add_data_args
from training.detector_engine import distil_loss
from training.quantize import classifier_items, int8_files, network_input, open_parts
from training.splits import SPLIT_FILES

EPOCHS = {"classifier": 3, "detector": 2}  # what the shipped int8 networks were fine-tuned for (model cards)
LR = 1e-5  # Adam; NNCF's advice for fine-tuning a quantised network
CALIBRATION = 300  # train-part images that set the quantisers' ranges


def face_batches(config: dict, images: list, batch: int) -> list[torch.Tensor]:
    """The annotated face crops of `images` as the classifier reads them (normalised NCHW), `batch` at a time."""
    crops = np.concatenate([x for x, _ in classifier_items(config, images)])
    return list(torch.from_numpy(crops).split(batch))


def detector_input(detector: IRDetector, image) -> torch.Tensor:
    """One image as the exported detector reads it: resized, padded to 32, normalised NCHW."""
    return torch.from_numpy(network_input(detector, image.load_rgb())[0])


def distance(network: str, student: tuple | torch.Tensor, teacher: tuple | torch.Tensor) -> torch.Tensor:
    """The fine-tuning loss: how far the student's outputs are from the teacher's on one batch."""
    if network == "classifier":
        return torch.nn.functional.mse_loss(student, teacher)
    return distil_loss(dict(zip(DetectorNetwork.OUTPUTS, student)), teacher)


def closeness(network: str, student, teacher, inputs: list[torch.Tensor]) -> dict[str, float]:
    """On val: the mean loss above the teacher's own (the detector's cross-entropy has the teacher's entropy as its
    floor), the largest change of a (face) logit, and for the classifier how often the label is fp32's."""
    losses, moves, same, faces = [], [], 0, 0
    with torch.no_grad():
        for x in inputs:
            s, t = student(x), teacher(x)
            losses.append(float(distance(network, s, t) - distance(network, t, t)))
            logits = (s, t) if network == "classifier" else (s[0], t[0])
            moves.append(float((logits[0] - logits[1]).abs().max()))
            if network == "classifier":
                same, faces = same + int((s.argmax(1) == t.argmax(1)).sum()), faces + len(s)
    report = {"val_loss": round(float(np.mean(losses)), 5), "largest_logit_move": round(max(moves), 3)}
    return report | ({"label_agreement": round(same / faces, 4)} if network == "classifier" else {})


def fine_tune(network: str, teacher: torch.nn.Module, calibration: list, train: list, val: list, epochs: int,
              seed: int) -> tuple[torch.nn.Module, list[dict]]:
    """`teacher` with NNCF's quantisers, fitted to the teacher's outputs on `train` (tensors, or functions making
    them) for `epochs`; with what `closeness` said before the first epoch and after each."""
    import nncf

    teacher.eval()
    student = nncf.quantize(copy.deepcopy(teacher), nncf.Dataset(calibration), subset_size=len(calibration))
    student.eval()  # throughout: BatchNorm keeps its statistics and dropout stays off; weights and ranges still learn
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(student.parameters(), lr=LR)
    history = [{"epoch": 0, **closeness(network, student, teacher, val)}]
    for epoch in range(1, epochs + 1):
        losses = []
        for i in tqdm(torch.randperm(len(train), generator=gen).tolist(), desc=f"{network} epoch {epoch}/{epochs}"):
            x = train[i]() if callable(train[i]) else train[i]
            x = x.flip(-1) if torch.rand((), generator=gen) < 0.5 else x
            with torch.no_grad():
                target = teacher(x)
            loss = distance(network, student(x), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
        history.append({"epoch": epoch, "train_loss": round(float(np.mean(losses)), 5), **closeness(network, student, teacher, val)})
        print(network, json.dumps(history[-1]))
    return student, history


def inputs(network: str, teacher_config: dict, export: Path, config: dict, parts: dict[str, list], scale: int) -> dict[str, list]:
    """Per part (calibration, train, val): what `network` reads, as `fine_tune` takes it (the detector its images
    read at short side `scale`)."""
    if network == "classifier":
        return {part: face_batches(teacher_config, images, 64 if part != "val" else 256) for part, images in parts.items()}
    detector = IRDetector(export / "detector.xml", config["detector"], 1, "fp32", scale, long_side(scale),
                          static=False)
    made = {part: [detector_input(detector, im) for im in parts[part]] for part in ("calibration", "val")}
    return made | {"train": [lambda im=im: detector_input(detector, im) for im in parts["train"]]}  # 5 MB an image: made as used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--split-file", default=str(SPLIT_FILES["image"]), help="image-level split (training.make_splits --out)")
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="folder `python -m models.export` wrote")
    parser.add_argument("--detector-weights", type=Path, default=DEFAULT_DETECTOR, help="the .pt the export's detector came from")
    parser.add_argument("--classifier-weights", type=Path, default=DEFAULT_CLASSIFIER, help="the .pt the export's classifier came from")
    parser.add_argument("--networks", nargs="+", choices=("detector", "classifier"), default=["detector", "classifier"])
    parser.add_argument("--epochs", type=int, help=f"fine-tuning epochs of each network (default: {EPOCHS})")
    parser.add_argument("--calibration", type=int, default=CALIBRATION, help="train-part images to set the quantisers' ranges on")
    parser.add_argument("--scale", type=int, default=DETECTOR_SCALE, help="short side the detector reads images at "
                        "(default: the service's); smaller is faster and fits the int8 ranges to other sizes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config, calibration, train, val = open_parts(parser, args, "training.qat")
    weights = {"detector": args.detector_weights, "classifier": args.classifier_weights}
    for name in args.networks:
        if sha256_of(weights[name]) != config[name]["sha256"]:
            parser.error(f"{args.export}'s {name} was not exported from {weights[name]}: run `python -m models.export` first")
    teachers = {"detector": detector_config, "classifier": classifier_config}
    parts = {"calibration": calibration, "train": train, "val": val}
    torch.manual_seed(args.seed)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    with int8_files(args.export, config, args.networks) as (folder, record):
        for name in args.networks:
            teacher, teacher_config = teachers[name](weights[name])
            start = time.perf_counter()
            made = inputs(name, teacher_config, args.export, config, parts, args.scale)
            epochs = EPOCHS[name] if args.epochs is None else args.epochs
            student, history = fine_tune(name, teacher, made["calibration"], made["train"], made["val"], epochs, args.seed)
            shape = [1, 3, -1, -1] if name == "detector" else [-1, 3, -1, -1]
            # torch's trace check re-runs the network only to warn (it does on NNCF's quantisers): 5 s, the same IR
            traced = TorchScriptPythonDecoder(student, example_input=made["calibration"][0][:1], trace_kwargs={"check_trace": False})
            network = openvino.convert_model(traced, input=[openvino.PartialShape(shape)])
            openvino.save_model(network, folder / f"{name}-int8.xml", compress_to_fp16=False)
            record[name] = {"method": "quantisation-aware fine-tuning", "epochs": epochs, "lr": LR,
                            "calibration_images": len(parts["calibration"]), "train_images": len(train),
                            "minutes": round((time.perf_counter() - start) / 60, 1), "val": history, "sha256": config[name]["sha256"],
                            **({"scale": args.scale} if name == "detector" else {})}


if __name__ == "__main__":
    main()
