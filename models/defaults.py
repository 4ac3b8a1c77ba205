"""What is served by default: the shipped weights' paths and the detection settings.

The service's settings (app/settings.py), `python -m models.classify` and `training.evaluate --pipeline` all
start from these, so they give the same faces for the same image.
"""
from pathlib import Path

WEIGHTS = Path(__file__).parent / "weights"
DEFAULT_DETECTOR = WEIGHTS / "detector.pt"
DEFAULT_CLASSIFIER = WEIGHTS / "classifier.pt"
DEFAULT_EXPORT = WEIGHTS / "openvino"

MIN_CONFIDENCE = 0.3  # lowest detection score returned
MAX_FACES = 100  # most faces returned per image
DETECTOR_SCALE = 528  # short side the detector reads at; 0 = the weights' own (research/results/model_history.md, "Why this scale")
SCORE_FLOOR = 0.1  # detections under it are dropped before NMS, which makes NMS shorter


def pad32(side: int) -> int:
    """A side of the detector's input, padded as torchvision pads it: up to a multiple of 32."""
    return -(-side // 32) * 32


def long_side(short_side: int) -> int:
    """The longest long side the detector reads an image at, for a short side: 4/3 of it (a 4:3 frame fits whole)."""
    return short_side * 4 // 3
