"""The torch-free pipeline (models/ir_pipeline.py) on the committed export: the faces torch finds, and a service
that starts without torch."""
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from models import backends
from models.backends import BackendError, resolve_backend
from models.defaults import DEFAULT_CLASSIFIER, DEFAULT_DETECTOR, DEFAULT_EXPORT, pad32
from models.digest import sha256_of
from models.export import export
from models.export_format import read_export
from models.face_pipeline import Job
from models.ir_pipeline import IRPipeline, static_shapes
from models.loading import open_pipeline
from models.pipeline import MaskPipeline
from models.plan import resolve_plan
from tests.conftest import ROOT, VOC_DIR

pytestmark = pytest.mark.skipif(not backends.installed("openvino-ir"), reason="openvino is not installed")


@pytest.fixture(scope="module")
def ir() -> IRPipeline:
    return IRPipeline(precision="fp32")


@pytest.fixture(scope="module")
def ir_dynamic() -> IRPipeline:
    """The dynamic-shape network only."""
    return IRPipeline(precision="fp32", static_shapes=False)


@pytest.fixture(scope="module")
def torch_pipeline() -> MaskPipeline:
    return MaskPipeline()


def assert_same_faces(found: list, expected: list) -> None:
    assert [f.label for f in found] == [f.label for f in expected]
    assert np.abs(np.array([f.box for f in found]) - np.array([f.box for f in expected])).max(initial=0) <= 0.5
    assert np.allclose([f.confidence for f in found], [f.confidence for f in expected], atol=1e-3)
    assert np.allclose([f.detection_score for f in found], [f.detection_score for f in expected], atol=1e-3)


def test_the_committed_export_is_of_the_committed_weights():
    config = read_export(DEFAULT_EXPORT)
    assert config["detector"]["sha256"] == sha256_of(DEFAULT_DETECTOR)
    assert config["classifier"]["sha256"] == sha256_of(DEFAULT_CLASSIFIER)
    for name in ("classifier-small", "classifier-large"):
        assert config[name]["sha256"] == sha256_of(DEFAULT_CLASSIFIER.with_name(f"{name}.pt"))
    assert {name: record["sha256"] for name, record in config["int8"].items()} == {
        "detector": sha256_of(DEFAULT_DETECTOR), "classifier": sha256_of(DEFAULT_CLASSIFIER)}


def test_each_face_is_labelled_by_the_classifier_for_its_size(ir, torch_pipeline, voc_images):
    rgb = voc_images[0].load_rgb()
    boxes = np.array([[10.0, 10, 30, 30], [10, 10, 50, 50], [10, 10, 70, 70]])  # 20, 40 and 60 px
    for pipeline in (ir, torch_pipeline):
        probs = pipeline.predict_boxes(rgb, boxes)
        for k, name in enumerate(("classifier-small", "classifier", "classifier-large")):
            assert np.allclose(probs[k], pipeline.classifiers[name].predict_boxes(rgb, boxes[k:k + 1]), atol=1e-6)
        assert pipeline.info["classifier"] == "+".join(pipeline.classifiers[n].name for n in ("classifier", "classifier-small", "classifier-large"))
    assert np.allclose(ir.predict_boxes(rgb, boxes), torch_pipeline.predict_boxes(rgb, boxes), atol=1e-3)


def test_int8_runs_the_quantised_networks(ir, voc_images):
    pipeline = IRPipeline(precision="int8")
    assert pipeline.info["precision"] == "int8"
    assert (pipeline.detector.path.name, pipeline.classifier.path.name) == ("detector-int8.xml", "classifier-int8.xml")
    assert [pipeline.classifiers[n].path.name for n in ("classifier-small", "classifier-large")] == [
        "classifier-small.xml", "classifier-large.xml"]  # not quantised: fp32
    rgb = voc_images[0].load_rgb()
    found, expected = pipeline(rgb), ir(rgb)
    assert abs(len(found) - len(expected)) <= 1 and found[0].box != expected[0].box


def test_auto_precision_is_fp32_even_where_the_export_has_int8_networks():
    assert read_export(DEFAULT_EXPORT).get("int8")
    assert resolve_plan().precision == "fp32" and open_pipeline(resolve_plan()).info["precision"] == "fp32"
    assert open_pipeline(resolve_plan(backend="torch")).info["precision"] == "fp32"
    assert resolve_plan(precision="int8").precision == "int8"


def test_two_copies_of_the_models_run_on_openvino_ir_only():
    cpus = len(os.sched_getaffinity(0))
    assert resolve_plan(model_copies=0).model_copies == min(2, cpus)
    assert resolve_plan(model_copies=3).model_copies == 3
    assert resolve_plan(backend="torch", model_copies=3).model_copies == 1
    assert resolve_plan(model_copies=3, model_process=True).model_copies == 1


def fixture_images(voc_images) -> list[np.ndarray]:
    small = voc_images[0].load_rgb()
    large = cv2.resize(small, None, fx=3, fy=3)  # read by shrinking, where the fixtures are read by enlarging
    images = [im.load_rgb() for im in voc_images] + [large, small[:, :150]]  # the last one portrait
    assert len({im.shape[:2] for im in images}) > 2
    return images


def test_it_finds_the_faces_torch_finds(ir, ir_dynamic, torch_pipeline, voc_images):
    for rgb in fixture_images(voc_images):
        expected = torch_pipeline(rgb)
        assert expected
        assert_same_faces(ir_dynamic(rgb), expected)
    assert ir.info == {**torch_pipeline.info, "backend": "openvino-ir"}


def test_static_networks_find_the_dynamic_shapes_faces_exactly(ir, ir_dynamic, voc_images):
    rgb = voc_images[0].load_rgb()
    images = fixture_images(voc_images) + [cv2.resize(rgb, size) for size in [(640, 360), (400, 300)]]  # 16:9, 4:3
    for rgb in images:
        found, expected = ir(rgb), ir_dynamic(rgb)
        assert [(f.box, f.label, f.confidence, f.detection_score) for f in found] == \
            [(f.box, f.label, f.confidence, f.detection_score) for f in expected]
    assert len(set(ir.detector.networks) - {None}) >= 2


def test_the_common_aspects_and_camera_frames_have_static_networks():
    shapes = static_shapes(528, 704)
    assert (544, 704) in shapes and (704, 544) in shapes and (416, 704) in shapes and len(shapes) == 7
    pipeline = IRPipeline()
    for height, width in [(300, 400), (720, 1280), (1080, 1920), (1920, 1080), (480, 640), (500, 500), (4000, 6000)]:
        resized = pipeline.detector.resized_size((height, width))
        assert (pad32(resized[0]), pad32(resized[1])) in shapes
    for height, width in [(100, 1000), (1000, 100), (500, 520)]:  # the others run on the dynamic shape
        resized = pipeline.detector.resized_size((height, width))
        assert (pad32(resized[0]), pad32(resized[1])) not in shapes
    pipeline.warm_up()
    assert sorted(pipeline.detector.networks, key=str) == sorted([*shapes, None], key=str)


def test_it_classifies_given_boxes_and_batches(ir_dynamic, torch_pipeline, voc_images):
    boxes = np.array([[10, 10, 60, 70], [100.5, 40.2, 130.7, 80.1]])
    jobs = [Job(im.load_rgb()) for im in voc_images] + [Job(voc_images[0].load_rgb(), boxes)]
    for found, job in zip(ir_dynamic.run(jobs)[0], jobs):  # images detected one by one: torch's padded batches differ at borders
        assert_same_faces(found, torch_pipeline.run([job])[0][0])


def test_its_scale_and_floor_are_the_torch_pipelines(voc_images):
    rgb = voc_images[1].load_rgb()
    options = {"scale": 384, "score_floor": 0.3, "min_confidence": 0.35, "max_faces": 2}
    assert_same_faces(IRPipeline(precision="fp32", **options)(rgb), MaskPipeline(**options)(rgb))


def test_bf16_runs_where_openvino_runs_it(voc_images):
    pipeline = IRPipeline(precision="bf16")
    assert pipeline.info["precision"] == "bf16" and pipeline(voc_images[0].load_rgb())
    with pytest.raises(BackendError, match="precision fp64"):
        IRPipeline(precision="fp64")


def test_an_export_of_other_weights_refuses_to_start(tmp_path):
    shutil.copytree(DEFAULT_EXPORT, tmp_path / "openvino")
    shutil.copy(DEFAULT_CLASSIFIER, tmp_path / "detector.pt")
    with pytest.raises(BackendError, match="exported from another detector"):
        IRPipeline(tmp_path / "openvino")


def test_a_missing_export_says_how_to_make_one(tmp_path):
    with pytest.raises(BackendError, match="python -m models.export"):
        IRPipeline(tmp_path / "openvino")
    (tmp_path / "openvino").mkdir()
    (tmp_path / "openvino" / "export.json").write_text(json.dumps({"format": "maskwatch-openvino/1"}))
    with pytest.raises(BackendError, match="not a whole MaskWatch export"):
        IRPipeline(tmp_path / "openvino")
    shutil.copy(DEFAULT_EXPORT / "export.json", tmp_path / "openvino")  # networks missing
    with pytest.raises(BackendError, match="could not load"):
        IRPipeline(tmp_path / "openvino")


def test_an_export_loads_and_finds_the_same_faces(tmp_path, ir, voc_images):
    (tmp_path / "detector-int8.xml").write_text("quantised from other networks")
    (tmp_path / "classifier-int8.xml").write_text("quantised from these weights")
    (tmp_path / "export.json").write_text(json.dumps({"int8": {"detector": {"sha256": "other"},
                                                               "classifier": {"sha256": sha256_of(DEFAULT_CLASSIFIER)}}}))
    config = export(DEFAULT_DETECTOR, DEFAULT_CLASSIFIER, tmp_path)
    networks = ["classifier", "classifier-large", "classifier-small", "detector"]  # the size classifiers beside the shipped one
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{n}.{e}" for n in networks for e in ("xml", "bin")]
                                                                + ["export.json", "classifier-int8.xml"])
    assert list(config["int8"]) == ["classifier"]  # the detector's int8 was of other weights: training.qat again
    rgb = voc_images[2].load_rgb()
    assert_same_faces(IRPipeline(tmp_path)(rgb), ir(rgb))


def test_auto_is_openvino_ir_where_torch_is_missing(monkeypatch):
    monkeypatch.setattr(backends, "installed", lambda b: "torch" not in backends.NEEDS[b])
    assert resolve_backend("auto", "cpu") == "openvino-ir"
    with pytest.raises(BackendError, match="pip install torch==2.14.1"):
        resolve_backend("torch", "cpu")
    with pytest.raises(BackendError, match="CPU only"):
        resolve_backend("openvino-ir", "cuda")


def test_auto_runs_the_export_when_it_is_of_the_weights_and_says_why_not(tmp_path, caplog):
    assert open_pipeline(resolve_plan()).info["backend"] == "openvino-ir"
    for name in ("detector.pt", "classifier.pt"):
        shutil.copy(DEFAULT_EXPORT.parent / name, tmp_path)
    assert open_pipeline(resolve_plan(model_dir=tmp_path), tmp_path).info["backend"] == "openvino"
    assert "holds no exported networks" in caplog.text
    assert open_pipeline(resolve_plan(backend="torch")).info["backend"] == "torch"


def test_the_torch_pipeline_refuses_the_ir_backend():
    with pytest.raises(BackendError, match="open_pipeline"):
        MaskPipeline(backend="openvino-ir")


SERVICE_WITHOUT_TORCH = f"""
import sys, time
# import torch now fails, as where it is not installed; PyAV and supervision too, as on the GPU machine and in a photo-only image
sys.modules["torch"] = sys.modules["torchvision"] = sys.modules["av"] = sys.modules["supervision"] = None
from fastapi.testclient import TestClient
from app.main import create_app
from app.settings import Settings
with TestClient(create_app(Settings(log_level="error", static_shapes=True))) as client:
    for _ in range(300):
        if client.get("/readyz").status_code == 200:
            break
        time.sleep(0.05)
    with open("{VOC_DIR / 'images' / 'maksssksksss145.png'}", "rb") as f:
        answer = client.post("/v1/classify", files={{"image": f}}).json()
print(answer["model"]["backend"], len(answer["faces"]), answer["faces"][0]["label"])
"""


def test_the_service_runs_without_torch_pyav_or_supervision(torch_pipeline, voc_images):
    result = subprocess.run([sys.executable, "-c", SERVICE_WITHOUT_TORCH], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = torch_pipeline(next(im for im in voc_images if im.image_path.stem == "maksssksksss145").load_rgb())
    assert result.stdout.split() == ["openvino-ir", str(len(expected)), expected[0].label]
