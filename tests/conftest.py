import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from training.voc import VOCImage, read_voc

os.environ.setdefault("MASKWATCH_CAMERAS_DB", ":memory:")  # no test leaves a camera database behind
FIXTURES = Path(__file__).parent / "fixtures"
VOC_DIR = FIXTURES / "voc"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def voc_images() -> list[VOCImage]:
    return read_voc(VOC_DIR)


def synthetic_images(n: int = 100, seed: int = 0) -> list[VOCImage]:
    """Annotation-only images with a realistic class mix (about 3% incorrectly-worn masks)."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        k = int(rng.integers(1, 8))
        labels = rng.choice(3, size=k, p=[0.78, 0.19, 0.03]).astype(np.int64)
        boxes = np.tile(np.array([[10, 10, 40, 40]], np.float32), (k, 1))
        images.append(VOCImage(Path(f"img{i:03d}.png"), 100, 100, boxes, labels))
    return images


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(extra_env: dict[str, str]):
    """A real uvicorn server of the app with `extra_env` on a free port; yields (base URL, port)."""
    port = free_port()
    env = {**os.environ, "MASKWATCH_LOG_LEVEL": "warning", **extra_env}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("server did not become ready")
        yield base, port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="session")
def server():
    with running_server({"MASKWATCH_MAX_UPLOAD_BYTES": "1000000"}) as running:
        yield running


def wait_ready(client) -> None:
    """Poll /readyz of a TestClient until the models are loaded."""
    for _ in range(300):
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("service never became ready")
