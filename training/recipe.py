"""A classifier training recipe (`TrainConfig`), its named presets, and the command-line flags that change it.

`train_classifier` and `crossval` take the same recipe flags, declared once here from the dataclass's fields.
"""
import argparse
import dataclasses
from dataclasses import dataclass, field


def _opt(default, help: str, choices: tuple | None = None):
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class TrainConfig:
    """One training recipe. `epochs=None` means the paper's: 40 for the custom CNNs, 20 for transfer models."""

    arch: str = _opt("custom_relu_bn", "network (models/architectures.py)")
    pretrained: bool = _opt(False, "start from ImageNet weights (torch hub cache; python -m training.fetch_weights)")
    input_size: int = _opt(35, "crop side in pixels")
    margin: float = _opt(0.0, "box grown by this fraction on each side before cropping")
    epochs: int | None = _opt(None, "epochs (default: 40 for custom CNNs, 20 for transfer models)")
    lr: float = _opt(1e-5, "peak learning rate")
    weight_decay: float = _opt(1e-2, "weight decay")
    batch_size: int = _opt(128, "faces per step")
    optimizer: str = _opt("adam", "optimizer", ("adam", "adamw"))
    schedule: str = _opt("constant", "learning-rate schedule", ("constant", "cosine"))
    class_weights: str = _opt("inverse", "loss weights: the paper's n_min / n_c, its square root, or none", ("inverse", "sqrt", "none"))
    label_smoothing: float = _opt(0.0, "label smoothing")
    augment: bool = _opt(False, "box jitter, flips, brightness and contrast")
    jitter: float = _opt(0.1, "with augment: box shift and scale, as a fraction of its size")
    top_cut: float = _opt(0.0, "with augment: drop up to this share of the top of half the boxes (eyes-to-chin boxes)")
    rotate: float = _opt(0.0, "with augment: rotation up to this many degrees")
    lowres: float = _opt(0.0, "with augment: share of crops shown at a lower resolution, as small faces look")
    flip_tta: bool = _opt(False, "average each crop's logits with its mirror image's")
    keep: str = _opt("best", "weights kept: lowest validation loss (the paper's) or the last epoch's", ("best", "last"))
    sampler: str = _opt("shuffle", "class: draw faces by class weight instead of weighting the loss", ("shuffle", "class"))
    ema: float = _opt(0.0, "> 0: keep an exponential moving average of the weights with this decay per step")
    mixup: float = _opt(0.0, "> 0: train on mixup pairs with this Beta(a, a) parameter")
    backbone_lr: float = _opt(1.0, "learning rate of the pretrained layers as a fraction of the head's")
    seed: int = _opt(0, "seed of initialisation, augmentation and order")

    def resolved_epochs(self) -> int:
        return self.epochs or (40 if self.arch.startswith("custom") else 20)


PRESETS: dict[str, dict] = {
    # The paper's recipe (Section 6): 35x35 crops, Adam 1e-5, L2 1e-2, batch 128, weighted CE.
    "paper": {},
    # MaskWatch's recipe, chosen on validation data (see models/weights/CLASSIFIER_CARD.md).
    "maskwatch": dict(arch="mobilenet_v2", pretrained=True, input_size=80, margin=0.15, epochs=20, lr=1e-3,
                      weight_decay=1e-4, batch_size=64, optimizer="adamw", schedule="cosine",
                      class_weights="sqrt", label_smoothing=0.05, augment=True, flip_tta=False),
}


def add_recipe_args(parser: argparse.ArgumentParser, preset: str) -> None:
    """`--preset` and one flag per `TrainConfig` field; a flag left out keeps the preset's value."""
    parser.add_argument("--preset", choices=sorted(PRESETS), default=preset, help="starting recipe (default: %(default)s)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f.metadata["help"])
        else:
            kind = type(f.default) if f.default is not None else int
            parser.add_argument(flag, type=kind, choices=f.metadata["choices"], default=None, help=f.metadata["help"])


def recipe_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset named by `args.preset` with every recipe flag that was given."""
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None}
    return dataclasses.replace(TrainConfig(**PRESETS[args.preset]), **overrides)
