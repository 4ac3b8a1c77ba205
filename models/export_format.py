"""The exported folder `python -m models.export` writes and `models.ir_pipeline` reads: its format, its files
and the check that it was exported from the weights beside it. No torch, no OpenVINO."""
import json
from pathlib import Path

from models.digest import sha256_of
from models.errors import BackendError

FORMAT = "maskwatch-openvino/1"
FILES = ("detector.xml", "detector.bin", "classifier.xml", "classifier.bin", "export.json")


def read_export(folder: Path) -> dict:
    """export.json of an exported folder, checked against the .pt files beside it (when there are any). Raises
    BackendError, saying how to make a current export, for a folder that is not one."""
    path = folder / "export.json"
    if not path.is_file():
        raise BackendError(f"{folder} holds no exported networks: run `python -m models.export --out {folder}` where torch is installed")
    config = json.loads(path.read_text())
    if config.get("format") != FORMAT or not {"detector", "classifier"} <= config.keys():
        raise BackendError(f"{path} is not a whole MaskWatch export of format {FORMAT}: run `python -m models.export --out {folder}`")
    for name in ("detector", "classifier"):
        weights = folder.parent / f"{name}.pt"
        if weights.is_file() and sha256_of(weights) != config[name]["sha256"]:
            raise BackendError(f"{folder} was exported from another {name} than {weights}: run `python -m models.export --out {folder}`")
    return config
