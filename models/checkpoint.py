"""Checkpoint files of both models: weights (fp16) plus the spec needed to rebuild, preprocess and calibrate.

`write_weights` / `read_weights` are the format both share; the classifier's spec and loader live here, the
detector's in models/detector.py.
"""
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from models.architectures import build_classifier
from models.labels import CLASSES

FORMAT = "maskwatch-classifier/1"


@dataclass
class ClassifierSpec:
    """How a classifier was built and how its input is prepared."""

    arch: str
    input_size: int = 35
    margin: float = 0.0
    temperature: float = 1.0
    logit_bias: tuple[float, ...] = (0.0, 0.0, 0.0)
    flip_tta: bool = False
    classes: tuple[str, ...] = CLASSES
    meta: dict = field(default_factory=dict)


def _stored(tensor: torch.Tensor, half: bool) -> torch.Tensor:
    """fp16 when asked for and every value fits: BatchNorm variances of a pretrained body reach 9e4, past fp16's range."""
    fits = tensor.numel() == 0 or bool(tensor.abs().max() <= torch.finfo(torch.float16).max)
    return tensor.half() if half and tensor.is_floating_point() and fits else tensor


def write_weights(path: str | Path, fmt: str, spec: dict, model: nn.Module, half: bool = True) -> None:
    """Write weights and spec atomically (temp file + rename); weights in fp16 by default to stay small."""
    state = {k: _stored(v, half) for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": fmt, "spec": spec, "state_dict": state}, tmp)
    tmp.replace(path)


def read_weights(path: str | Path, fmt: str) -> tuple[dict, dict]:
    """The spec and the fp32 state dict of a file written by `write_weights` in format `fmt`."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != fmt:
        raise ValueError(f"{path} is not a MaskWatch checkpoint of format {fmt}")
    return dict(blob["spec"]), {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}


def save_checkpoint(path: str | Path, model: nn.Module, spec: ClassifierSpec, half: bool = True) -> None:
    """Write a classifier and its spec."""
    write_weights(path, FORMAT, asdict(spec), model, half)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ClassifierSpec]:
    """Rebuild the network from a checkpoint (fp32, eval mode) and return it with its spec."""
    spec_fields, state = read_weights(path, FORMAT)
    spec_fields["classes"] = tuple(spec_fields["classes"])
    spec_fields["logit_bias"] = tuple(spec_fields.get("logit_bias", (0.0,) * len(spec_fields["classes"])))
    spec = ClassifierSpec(**spec_fields)
    model = build_classifier(spec.arch, pretrained=False)
    model.load_state_dict(state)
    return model.to(device).eval(), spec
