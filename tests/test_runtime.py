import time

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from models import backends, plan, runtime
from models.backends import BackendError, resolve_backend
from models.pipeline import Job, MaskPipeline
from models.runtime import compile_network
from tests.conftest import wait_ready

RUNTIMES = [pytest.param(b, marks=pytest.mark.skipif(not backends.installed(b), reason=f"{b} is not installed"))
            for b in ("openvino", "onnxruntime")]


@pytest.fixture(scope="module")
def torch_faces(voc_images) -> list[list]:
    pipeline = MaskPipeline()
    return [pipeline(im.load_rgb()) for im in voc_images]


@pytest.mark.parametrize("backend", RUNTIMES)
def test_a_runtime_finds_the_faces_torch_finds(backend, voc_images, torch_faces):
    pipeline = MaskPipeline(backend=backend)
    assert pipeline.info["backend"] == backend
    sizes = {im.load_rgb().shape[:2] for im in voc_images}
    assert len(sizes) > 1  # the anchors of several input sizes are checked, not one
    for im, expected in zip(voc_images, torch_faces):
        faces = pipeline(im.load_rgb())
        assert [f.label for f in faces] == [f.label for f in expected]
        assert np.abs(np.array([f.box for f in faces]) - np.array([f.box for f in expected])).max(initial=0) <= 0.5
        assert np.allclose([f.confidence for f in faces], [f.confidence for f in expected], atol=1e-3)


def test_auto_picks_openvino_on_a_cpu_and_torch_on_cuda(monkeypatch):
    assert resolve_backend("auto", "cuda") == "torch"
    monkeypatch.setattr(backends, "installed", lambda b: True)
    assert resolve_backend("auto", "cpu") == "openvino" and resolve_backend("auto", "cpu", "bf16") == "openvino"
    monkeypatch.setattr(backends, "installed", lambda b: b in ("torch", "onnxruntime"))
    assert resolve_backend("auto", "cpu") == "torch"  # ONNX Runtime measured slower than torch here
    with pytest.raises(BackendError, match="precision bf16"):
        resolve_backend("auto", "cpu", "bf16")


@pytest.mark.parametrize(("backend", "device", "precision", "message"), [
    ("openvino", "cuda", "fp32", "CPU only"),
    ("tensorrt", "cpu", "fp32", "unknown backend"),
    ("onnxruntime", "cpu", "bf16", "precision bf16"),
    ("torch", "cpu", "bf16", "precision bf16"),
])
def test_a_backend_that_cannot_run_says_why(backend, device, precision, message):
    with pytest.raises(BackendError, match=message):
        resolve_backend(backend, device, precision)


def test_a_missing_runtime_stops_the_service_at_start(monkeypatch):
    monkeypatch.setattr(backends, "installed", lambda b: b == "torch")
    with pytest.raises(BackendError, match="pip install openvino==2026.4.1 onnx"):
        create_app(Settings(backend="openvino", device="cpu"))
    assert resolve_backend("auto", "cpu") == "torch"


@pytest.mark.parametrize("backend", RUNTIMES)
def test_a_bad_export_is_a_clear_error(backend, monkeypatch):
    monkeypatch.setattr(runtime, "onnx_bytes", lambda *a: b"not a network")
    with pytest.raises(BackendError, match=f"{backend} could not load the exported network"):
        compile_network(torch.nn.Identity(), torch.zeros(1, 3, 8, 8), ["y"], backend, threads=1)


@pytest.mark.parametrize("backend", RUNTIMES)
def test_readyz_says_why_the_models_did_not_load(backend, monkeypatch):
    monkeypatch.setattr(runtime, "onnx_bytes", lambda *a: b"not a network")
    with TestClient(create_app(Settings(backend=backend, device="cpu"))) as client:
        for _ in range(200):
            r = client.get("/readyz")
            if "failed" in r.json()["error"]["message"]:
                break
            time.sleep(0.05)
        assert r.status_code == 503 and f"{backend} could not load" in r.json()["error"]["message"]


@pytest.mark.parametrize("backend", RUNTIMES)
def test_the_service_reports_its_backend(backend):
    with TestClient(create_app(Settings(backend=backend, device="cpu"))) as client:
        wait_ready(client)
        info = client.get("/v1/info").json()
        assert info["model"]["backend"] == info["runtime"]["backend"] == backend and info["runtime"]["device"] == "cpu"
        assert info["runtime"]["model_copies"] == 1 and info["runtime"]["precision"] == info["model"]["precision"]
        assert f'backend="{backend}"' in client.get("/metrics").text


def test_cuda_asked_for_where_there_is_none_stops_the_start(monkeypatch):
    monkeypatch.setattr(plan, "cuda_available", lambda: False)
    with pytest.raises(BackendError, match="device cuda was asked for, but there is no CUDA GPU here"):
        create_app(Settings(device="cuda"), load_models=False)
    assert plan.resolve_plan("auto").device == "cpu"


@pytest.mark.parametrize("backend", RUNTIMES)
def test_a_runtime_runs_micro_batches(backend, voc_images):
    jobs = [Job(im.load_rgb()) for im in voc_images]  # one detector batch of differently sized images, padded alike
    batched, _ = MaskPipeline().run(jobs)
    faces, _ = MaskPipeline(backend=backend).run(jobs)
    for found, expected in zip(faces, batched):
        assert [f.label for f in found] == [f.label for f in expected]
        assert np.abs(np.array([f.box for f in found]) - np.array([f.box for f in expected])).max(initial=0) <= 0.5
