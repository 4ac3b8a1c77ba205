"""The models in a child process (`MASKWATCH_MODEL_PROCESS`, the default on CUDA), exercised on the CPU."""
import os
import signal

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.model_process import ModelProcess
from app.settings import Settings
from models.plan import resolve_plan
from tests.conftest import VOC_DIR, wait_ready

FIXTURE = VOC_DIR / "images" / "maksssksksss760.png"


def post(client):
    return client.post("/v1/classify", files={"image": ("x.png", FIXTURE.read_bytes(), "image/png")})


def faces(response) -> list:
    return [(f["box"], f["label"], round(f["confidence"], 4)) for f in response.json()["faces"]]


@pytest.fixture(scope="module")
def in_thread():
    with TestClient(create_app(Settings(model_process=False))) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def in_child():
    with TestClient(create_app(Settings(model_process=True))) as client:
        wait_ready(client)
        yield client


def test_a_child_process_answers_like_the_model_thread(in_thread, in_child):
    child = in_child.app.state.service.host.models
    assert isinstance(child, ModelProcess) and child.process.is_alive() and child.process.pid != os.getpid()
    assert not isinstance(in_thread.app.state.service.host.models, ModelProcess)
    expected, got = post(in_thread), post(in_child)
    assert got.status_code == 200 and faces(got) == faces(expected) and len(faces(got)) >= 4
    assert got.json()["model"] == expected.json()["model"]


def test_a_killed_child_is_replaced_and_the_request_told_to_retry(in_child):
    child = in_child.app.state.service.host.models
    old = child.process.pid
    os.kill(old, signal.SIGKILL)
    child.process.join(5)
    refused = post(in_child)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "model_restarted"
    assert refused.headers["Retry-After"] == "1"
    assert child.process.pid != old and post(in_child).status_code == 200


def test_a_child_that_cannot_load_says_why(tmp_path):
    with pytest.raises(RuntimeError, match="loading the models failed"):
        ModelProcess(Settings(model_dir=tmp_path), resolve_plan(backend="torch", model_dir=tmp_path))


def test_the_child_stops_with_the_server():
    with TestClient(create_app(Settings(model_process=True))) as client:
        wait_ready(client)
        process = client.app.state.service.host.models.process
    process.join(5)
    assert not process.is_alive()
