"""The exported folder `python -m models.export` writes and `models.ir_pipeline` reads: its format, its files
and the check that it was exported from the weights beside it. No torch, no OpenVINO."""
import json
from pathlib import Path

from models.digest import sha256_of
from models.errors import BackendError
from models.face_sizes import MAIN_NETWORK, SIZE_NETWORKS

FORMAT = "maskwatch-openvino/1"
FILES = ("detector.xml", "detector.bin", "classifier.xml", "classifier.bin", "export.json")
SIZE_FILES = {name: (f"{name}.xml", f"{name}.bin") for name in SIZE_NETWORKS}  # with a size classifier (models.face_sizes)


def read_export(folder: Path) -> dict:
    """export.json of an exported folder, checked against the .pt files beside it (when there are any). Raises
    BackendError, saying how to make a current export, for a folder that is not one."""
    path = folder / "export.json"
    if not path.is_file():
        raise BackendError(f"{folder} holds no exported networks: run `python -m models.export --out {folder}` where torch is installed")
    config = json.loads(path.read_text())
    if config.get("format") != FORMAT or not {"detector", "classifier"} <= config.keys():
        raise BackendError(f"{path} is not a whole MaskWatch export of format {FORMAT}: run `python -m models.export --out {folder}`")
    for name in ("detector", MAIN_NETWORK, *SIZE_NETWORKS):
        if lags(folder, config, name):
            raise BackendError(f"{folder} was exported from another {name} than {folder.parent / (name + '.pt')}: "
                               f"run `python -m models.export --out {folder}`")
    return config


def lags(folder: Path, config: dict, name: str) -> bool:
    """Whether network `name` of the export was made from other weights than the .pt beside the folder; for a size
    classifier, also whether one was added or removed there since. Without .pt files (the CPU image)
    there is nothing to lag."""
    weights = folder.parent / f"{name}.pt"
    exported = config.get(name, {}).get("sha256")
    if weights.is_file():
        return sha256_of(weights) != exported
    return name in SIZE_NETWORKS and exported is not None and (folder.parent / f"{MAIN_NETWORK}.pt").is_file()
