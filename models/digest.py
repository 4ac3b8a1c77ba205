"""The sha256 that names a weights file in model cards, exports and the service's answers."""
import hashlib
from pathlib import Path


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
