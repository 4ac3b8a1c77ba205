import contextlib
import io
import os
import runpy
import subprocess
import sys
import threading
import time
import traceback
import warnings
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

from bench.ports import free_port
from training.voc import VOCImage, read_voc

os.environ.setdefault("MASKWATCH_CAMERAS_DB", ":memory:")  # no test leaves a camera database behind
os.environ.setdefault("MASKWATCH_MODEL_COPIES", "1")  # loads in half the time; the tests of two copies say so
# the detector on its dynamic shape: a load takes 1.5 s of CPU instead of 9.4 s for the seven static networks. Faces
# near the threshold may differ from the static networks' by float rounding, so the contract tests (tests/test_api.py),
# the tests of static shapes and one server run end to end without torch serve the default, static shapes
os.environ.setdefault("MASKWATCH_STATIC_SHAPES", "false")
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


def run_module(*args: str) -> subprocess.CompletedProcess:
    """`python -m MODULE ARG...` run in this process, as `python -m` runs it (its `__main__`, its argv): the exit code,
    stdout and stderr. Torch and the rest are imported once for every run, not once a run (5 s each)."""
    out, err, argv, code = io.StringIO(), io.StringIO(), sys.argv, 0
    sys.argv = list(args)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # runpy's: the module was imported before, by a test
            runpy.run_module(args[0], run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
        if isinstance(exit.code, str):
            err.write(exit.code + "\n")
    except Exception:  # what the interpreter prints for an uncaught exception, with its exit code
        err.write(traceback.format_exc())
        code = 1
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@contextmanager
def running_server(extra_env: dict[str, str]):
    """A real uvicorn server of the app with `extra_env` on a free port; yields (base URL, port)."""
    port = free_port()
    env = {**os.environ, "MASKWATCH_LOG_LEVEL": "warning", **extra_env}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers_ready(base), 60, "server did not become ready")
        yield base, port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """The stream tests' clips by name (tests/streams.py), each encoded when a test of the module first asks for it."""
    from tests.streams import Media

    return Media(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="session")
def server():
    with running_server({"MASKWATCH_MAX_UPLOAD_BYTES": "1000000"}) as running:
        yield running


def wait_ready(client) -> None:
    """Poll /readyz of a TestClient until the models are loaded (60 s at most: tests run two at a time)."""
    wait_for(lambda: client.get("/readyz").status_code == 200, 60, "service never became ready")


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


def answers_ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


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


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of this test process (bench/postgres.py)."""
    from bench.postgres import AVAILABLE, Postgres

    if not AVAILABLE:
        pytest.skip("needs Debian's postgresql (.ci/run installs it)")
    server = Postgres.temporary()
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request, tmp_path) -> dict:
    """Settings of a new, empty database on each back end: a SQLite file, or a database of the tests' PostgreSQL."""
    if request.param == "sqlite":
        return {"cameras_db": tmp_path / "cameras.db"}
    return {"database_url": request.getfixturevalue("postgres").new_database()}


@pytest.fixture
def database(store_settings) -> str:
    """The same database's SQLAlchemy URL (app/database.py)."""
    from app.database import database_url

    return database_url(store_settings.get("database_url"), store_settings.get("cameras_db", ""))
