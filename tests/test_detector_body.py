"""The detector on a face detector's body (`DetectorSpec.body == "retinaface"`), built on random weights: the real
ones are in ../shared, which tests may not read."""
import re

import numpy as np
import pytest
import torch

from models.detector import DetectorNetwork, DetectorSpec, build_detector, detect, load_detector, save_detector
from models.pipeline import MaskPipeline
from models.retinaface_body import RetinaFaceFeatures

SPEC = DetectorSpec(body="retinaface", min_size=128, max_size=160, score_thresh=0.0)


def retinaface_state_dict() -> dict[str, torch.Tensor]:
    """A RetinaFace state dict as its authors save it: `ssh1..3`, and heads the body does not take."""
    state = {re.sub(r"^ssh\.(\d)", lambda m: f"ssh{int(m[1]) + 1}", k): v for k, v in RetinaFaceFeatures().state_dict().items()}
    return {**state, "ClassHead.0.conv1x1.weight": torch.zeros(4, 64, 1, 1)}


def test_the_face_detectors_body_loads_and_its_heads_are_left_out(tmp_path):
    torch.manual_seed(0)
    state = retinaface_state_dict()
    torch.save(state, tmp_path / "retinaface.pth")
    features = RetinaFaceFeatures()
    features.load_face_detector(tmp_path / "retinaface.pth")
    loaded = features.state_dict()
    assert len(loaded) == len(state) - 1
    assert all(torch.equal(loaded[re.sub(r"^ssh(\d)", lambda m: f"ssh.{int(m[1]) - 1}", k)], v) for k, v in state.items() if "Head" not in k)


def test_levels_are_the_sizes_the_runtime_path_assumes():
    """FaceFCOS._forward_network sizes each level as the padded input over its stride, rounded up."""
    model = build_detector(SPEC)
    levels = model.backbone(torch.zeros(1, 3, 96, 128))
    assert [tuple(f.shape[2:]) for f in levels.values()] == [(-(-96 // s), -(-128 // s)) for s in model.strides]


def test_saved_and_loaded_it_computes_the_same(tmp_path):
    """Loading folds BatchNorm and goes channels-last: the head's outputs stay the same."""
    torch.manual_seed(0)
    model = build_detector(SPEC).eval()
    save_detector(tmp_path / "detector.pt", model, SPEC, half=False)
    loaded, spec, _ = load_detector(tmp_path / "detector.pt")
    assert spec.body == "retinaface"
    x = torch.rand(1, 3, 128, 160)
    with torch.inference_mode():
        for ours, theirs in zip(DetectorNetwork(model)(x), DetectorNetwork(loaded)(x), strict=True):
            torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=1e-4)
    assert len(detect(loaded, [np.zeros((120, 160, 3), np.uint8)])[0]["boxes"]) > 0


def test_the_pipeline_names_the_body(tmp_path):
    spec = DetectorSpec(body="mobilenet_v2")
    save_detector(tmp_path / "detector.pt", build_detector(spec), spec)
    assert MaskPipeline(tmp_path / "detector.pt").detector_name.startswith("fcos_mobilenet_v2@")
    assert MaskPipeline().detector_name.startswith("fcos_retinaface@")


def test_an_unknown_body_is_refused():
    with pytest.raises(ValueError, match="unknown detector body 'resnet'"):
        build_detector(DetectorSpec(body="resnet"))
