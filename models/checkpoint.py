"""The classifier checkpoint format: weights plus everything needed to preprocess and calibrate."""
import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from models.classifiers import build_classifier
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


def save_checkpoint(path: str | Path, model: nn.Module, spec: ClassifierSpec, half: bool = True) -> None:
    """Write `model` and `spec` atomically (temp file + rename); weights in fp16 by default to stay small."""
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": FORMAT, "spec": asdict(spec), "state_dict": state}, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ClassifierSpec]:
    """Rebuild the network from a checkpoint (fp32, eval mode) and return it with its spec."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not a MaskWatch classifier checkpoint ({FORMAT})")
    spec_fields = dict(blob["spec"])
    spec_fields["classes"] = tuple(spec_fields["classes"])
    spec_fields["logit_bias"] = tuple(spec_fields.get("logit_bias", (0.0,) * len(spec_fields["classes"])))
    spec = ClassifierSpec(**spec_fields)
    model = build_classifier(spec.arch, pretrained=False)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    return model.to(device).eval(), spec


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, as written in model cards and reported by the service."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
