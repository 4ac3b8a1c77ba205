"""Which VOC folders the CLIs read: `--data DIR [DIR ...]` and `--label-map`, defaulting to both datasets in ../shared."""
import argparse
import os
from pathlib import Path

from training.voc import VOCError, VOCImage, parse_label_map, read_vocs

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KAGGLE_DATA = str(SHARED_DATA / "face-mask-detection")
ILC_DATA = str(SHARED_DATA / "ilc-face-mask")
# the pretrained face detector `train_detector --body retinaface` starts from (WIDER FACE, MIT; its README)
RETINAFACE_WEIGHTS = SHARED_DATA.parent / "pretrained" / "retinaface_mobilenet0.25_widerface.pth"
# MASKWATCH_DATA holds one folder or several, separated like PATH entries
DEFAULT_DATA = os.environ.get("MASKWATCH_DATA", os.pathsep.join([KAGGLE_DATA, ILC_DATA])).split(os.pathsep)


def add_data_args(parser: argparse.ArgumentParser, default: list[str] = DEFAULT_DATA) -> None:
    parser.add_argument("--data", nargs="+", default=default,
                        help="VOC folders (images/ + annotations/), read in this order (default: %(default)s)")
    parser.add_argument("--label-map", default="",
                        help="extra class names, NAME=CLASS,... with CLASS one of with_mask, without_mask, mask_worn_incorrectly")


def load_data(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[VOCImage]:
    """The images of `args.data`; a bad folder, file or label ends the CLI with a usage error naming it."""
    try:
        return read_vocs(args.data, parse_label_map(args.label_map))
    except VOCError as err:
        parser.error(str(err))
