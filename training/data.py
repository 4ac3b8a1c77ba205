"""Where the training data lives by default."""
import os
from pathlib import Path

DEFAULT_DATA = os.environ.get("MASKWATCH_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data" / "face-mask-detection"))
