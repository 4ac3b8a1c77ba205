"""Write the shipped networks as OpenVINO files, for the pipeline that runs without torch (models/ir_pipeline.py).

    python -m models.export                                   # models/weights/*.pt -> models/weights/openvino/
    python -m models.export --detector runs/det/detector.pt --classifier runs/clf/classifier.pt --out DIR

Writes detector.xml/.bin, classifier.xml/.bin (and classifier-small and classifier-large .xml/.bin from the .pt files
of those names beside the classifier: `models.face_sizes`) and export.json (what pre- and post-processing need, and the sha256
of each .pt it came from: a pipeline loading the folder next to other weights refuses to start). Rerun it after
every retraining; tests/test_ir_pipeline.py fails while the committed folder lags the committed weights.
"""
import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import openvino
import torch

from models.checkpoint import load_checkpoint
from models.defaults import DEFAULT_CLASSIFIER, DEFAULT_DETECTOR, DEFAULT_EXPORT, pad32
from models.detector import DetectorNetwork, load_detector
from models.digest import sha256_of
from models.export_format import FILES, FORMAT, SIZE_FILES
from models.face_sizes import MAIN_NETWORK, SIZE_NETWORKS, size_weights_beside
from models.runtime import onnx_bytes


def detector_config(detector_weights: Path) -> tuple[torch.nn.Module, dict]:
    model, spec, sha = load_detector(detector_weights)
    config = {"name": f"fcos_{spec.body}@{sha[:12]}", "sha256": sha, "min_size": spec.min_size, "max_size": spec.max_size,
              "strides": list(model.strides), "image_mean": list(model.transform.image_mean),
              "image_std": list(model.transform.image_std), "nms_thresh": model.nms_thresh,
              "detections_per_img": model.detections_per_img, "topk_candidates": model.topk_candidates}
    return DetectorNetwork(model.to(memory_format=torch.contiguous_format)), config


def classifier_config(classifier_weights: Path) -> tuple[torch.nn.Module, dict]:
    model, spec = load_checkpoint(classifier_weights)
    sha = sha256_of(classifier_weights)
    fields = {k: v for k, v in asdict(spec).items() if k != "meta"}
    return model, {"name": f"{spec.arch}@{sha[:12]}", "sha256": sha, **fields}


def export(detector_weights: Path, classifier_weights: Path, out: Path) -> dict:
    """Write the folder `out` (its files replaced together at the end: a failed export leaves the old one whole),
    with the size classifiers beside `classifier_weights` too (`models.face_sizes`)."""
    detector, detector_cfg = detector_config(detector_weights)
    short, long = pad32(detector_cfg["min_size"]), pad32(detector_cfg["max_size"])
    networks = {"detector": (detector, torch.zeros(1, 3, short, long), DetectorNetwork.OUTPUTS)}
    config = {"format": FORMAT, "detector": detector_cfg}
    for name, weights in ({MAIN_NETWORK: classifier_weights} | size_weights_beside(classifier_weights)).items():
        classifier, config[name] = classifier_config(weights)
        size = config[name]["input_size"]
        networks[name] = (classifier, torch.zeros(1, 3, size, size), ["logits"])
    int8 = kept_int8(out, config)
    if int8:
        config["int8"] = int8
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        for name, (module, example, outputs) in networks.items():
            network = openvino.Core().read_model(onnx_bytes(module, example, outputs), b"")
            # fp32: the folded BatchNorm weights are no longer fp16 values (an fp16 export moved labels on the test parts)
            openvino.save_model(network, Path(tmp) / f"{name}.xml", compress_to_fp16=False)
        (Path(tmp) / "export.json").write_text(json.dumps(config, indent=1) + "\n")
        for name in FILES + tuple(f for n in SIZE_NETWORKS if n in config for f in SIZE_FILES[n]):
            (Path(tmp) / name).replace(out / name)
    stale = [p for p in out.glob("*-int8.*") if p.name.split("-int8.")[0] not in int8]  # quantised from other weights
    for path in stale + [out / f for n in SIZE_NETWORKS if n not in config for f in SIZE_FILES[n]]:
        path.unlink(missing_ok=True)
    return config


def kept_int8(out: Path, config: dict) -> dict:
    """The int8 records of `out`'s previous export whose networks were quantised from the weights exported now:
    their files stay, the others are `training.qat`'s to make again."""
    try:
        previous = json.loads((out / "export.json").read_text()).get("int8", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {name: record for name, record in previous.items() if config.get(name, {}).get("sha256") == record.get("sha256")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR, help="detector weights (.pt)")
    parser.add_argument("--classifier", type=Path, default=DEFAULT_CLASSIFIER, help="classifier weights (.pt)")
    parser.add_argument("--out", type=Path, default=DEFAULT_EXPORT, help="folder to write")
    args = parser.parse_args()
    config = export(args.detector, args.classifier, args.out)
    print(f"wrote {args.out}: {', '.join(config[name]['name'] for name in ('detector', MAIN_NETWORK, *SIZE_NETWORKS) if name in config)}")


if __name__ == "__main__":
    main()
