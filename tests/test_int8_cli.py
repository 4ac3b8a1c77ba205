"""The int8 command lines end to end on the fixtures: training.quantize and training.qat write int8 networks the
pipeline runs, and say what is missing or wrong. In a file of their own, collected early: with two workers taking
whole files, the suite's longest test (QAT) starts first rather than last (tests/README.md)."""
import importlib.util
import json
import shutil

import cv2
import pytest

from models.defaults import DEFAULT_EXPORT
from models.errors import BackendError
from models.ir_pipeline import IRPipeline
from tests.conftest import ROOT, VOC_DIR, run_module
from training.splits import save_split

run = run_module  # each command as `python -m` runs it, in this process


def load_fixture_rgb():
    return cv2.cvtColor(cv2.imread(str(VOC_DIR / "images" / "maksssksksss145.png")), cv2.COLOR_BGR2RGB)


@pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="nncf is not installed (pip install '.[quantize]')")
def test_quantize_writes_int8_networks_the_pipeline_runs(tmp_path):
    save_split({"train": ["maksssksksss1", "maksssksksss44", "maksssksksss145"], "val": ["maksssksksss760"], "test": []},
               tmp_path / "split.json")
    shutil.copytree(DEFAULT_EXPORT, tmp_path / "openvino")
    for stale in (tmp_path / "openvino").glob("*-int8.*"):
        stale.unlink()
    (tmp_path / "openvino" / "export.json").write_text(json.dumps(
        {k: v for k, v in json.loads((DEFAULT_EXPORT / "export.json").read_text()).items() if k != "int8"}))
    with pytest.raises(BackendError, match="training.quantize"):
        IRPipeline(tmp_path / "openvino", precision="int8")
    result = run("training.quantize", "--data", str(VOC_DIR), "--split-file", str(tmp_path / "split.json"),
                 "--export", str(tmp_path / "openvino"), "--max-drop", "0.05")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "openvino" / "export.json").read_text())["int8"]
    assert set(record) == {"detector", "classifier"} and record["detector"]["validation_items"] == 1
    assert abs(record["detector"]["val_int8"] - record["detector"]["val_fp32"]) <= 0.05
    pipeline = IRPipeline(tmp_path / "openvino", precision="int8")
    assert pipeline.info["precision"] == "int8" and pipeline(load_fixture_rgb())
    assert not list((tmp_path / "openvino").glob("tmp*"))


@pytest.fixture
def nncf_reference_quantisers(monkeypatch):
    """NNCF's quantisers in torch ops instead of its C++ extension, which it compiles on a machine's first QAT: 20-35 s
    of the suite on a fresh clone (tests/README.md), for a fine-tuning of two images. The commands run as users run
    them; only NNCF's kernel differs."""
    from nncf.torch.quantization import extensions
    from nncf.torch.quantization.reference import ReferenceQuantizedFunctions

    monkeypatch.setattr(extensions.QuantizedFunctionsCPU, "_loaded_namespace", ReferenceQuantizedFunctions)


@pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="nncf is not installed (pip install '.[quantize]')")
def test_qat_fine_tunes_int8_networks_the_pipeline_runs(tmp_path, nncf_reference_quantisers):
    save_split({"train": ["maksssksksss1", "maksssksksss44"], "val": ["maksssksksss760"], "test": []}, tmp_path / "split.json")
    shutil.copytree(DEFAULT_EXPORT, tmp_path / "openvino")
    before = {path.name: path.read_bytes() for path in (tmp_path / "openvino").glob("*-int8.*")}
    result = run("training.qat", "--data", str(VOC_DIR), "--split-file", str(tmp_path / "split.json"),
                 "--export", str(tmp_path / "openvino"), "--epochs", "1", "--calibration", "2", "--scale", "160")  # a tiny canvas: the same code path
    assert result.returncode == 0, result.stderr
    after = {path.name: path.read_bytes() for path in (tmp_path / "openvino").glob("*-int8.*")}
    assert set(after) == set(before) and all(after[name] != before[name] for name in after)
    record = json.loads((tmp_path / "openvino" / "export.json").read_text())["int8"]
    for name in ("detector", "classifier"):
        assert record[name]["method"] == "quantisation-aware fine-tuning" and record[name]["train_images"] == 2
        assert [step["epoch"] for step in record[name]["val"]] == [0, 1]
    assert record["classifier"]["val"][-1]["label_agreement"] >= 0.5
    pipeline = IRPipeline(tmp_path / "openvino", precision="int8")
    assert pipeline.info["precision"] == "int8" and pipeline(load_fixture_rgb())
    assert not list((tmp_path / "openvino").glob("tmp*"))


def test_qat_refuses_an_export_of_other_weights(tmp_path):
    save_split({"train": ["maksssksksss1"], "val": ["maksssksksss760"], "test": []}, tmp_path / "split.json")
    other = tmp_path / "other.pt"
    shutil.copy(ROOT / "models" / "weights" / "classifier.pt", other)
    with other.open("ab") as f:
        f.write(b"\0")
    result = run("training.qat", "--data", str(VOC_DIR), "--split-file", str(tmp_path / "split.json"), "--networks", "classifier",
                 "--classifier-weights", str(other), "--export", str(DEFAULT_EXPORT))
    assert result.returncode == 2 and ("was not exported from" in result.stderr or "needs NNCF" in result.stderr)


def test_quantize_says_what_is_missing(tmp_path):
    result = run("training.quantize", "--data", str(VOC_DIR), "--export", str(tmp_path))
    assert result.returncode == 2 and ("holds no exported networks" in result.stderr or "needs NNCF" in result.stderr)
