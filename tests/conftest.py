import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

from training.voc import VOCImage, read_voc

os.environ.setdefault("MASKWATCH_CAMERAS_DB", ":memory:")  # no test leaves a camera database behind
os.environ.setdefault("MASKWATCH_MODEL_COPIES", "1")  # loads in half the time; the tests of two copies say so
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


@contextmanager
def maskwatch(tmp_path: Path, **env: str):
    """A real server process watching cameras; yields (httpx client, its log file, the process)."""
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    settings = {"MASKWATCH_CAMERA_ALLOW_LOCAL": "true", "MASKWATCH_CAMERA_TRACK_GAP_S": "1.5", "MASKWATCH_CAMERA_STALL_S": "1.5",
                "MASKWATCH_CAMERA_BACKOFF_MAX_S": "2", "MASKWATCH_CAMERAS_DB": str(tmp_path / "cameras.db"), **env}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env={**os.environ, **settings}, stdout=out, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        wait_for(lambda: ready(client), 60, "the server never became ready")
        yield client, log, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        client.close()


def ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def wait_for(condition, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(message)


class WebhookReceiver:
    """A local webhook receiver in a thread: keeps every POST as (body bytes, headers), answering after `delay_s`."""

    def __init__(self, delay_s: float = 0.0):
        self.posts: list[tuple[bytes, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                receiver.posts.append((body, dict(self.headers)))
                try:
                    self.send_response(204)
                    self.end_headers()
                except BrokenPipeError:
                    pass  # the sender gave up waiting

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
