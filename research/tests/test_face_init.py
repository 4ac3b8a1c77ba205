import math

import numpy as np
import pytest
import torch
from torch import nn

from models.detector import DetectorSpec
from research import retinaface, rfb
from research.face_init import build, freeze_batchnorm

NETWORKS = {"retinaface": retinaface.RetinaFace, "rfb": rfb.RFBDetector}


def test_freeze_batchnorm_keeps_the_outputs_and_leaves_no_batchnorm():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)))
    for bn in (net[1], net[2][1]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 2)
    x = torch.randn(2, 3, 8, 8)
    expected = net.eval()(x)
    frozen = freeze_batchnorm(net).train()  # frozen statistics: training mode changes nothing
    assert not any(isinstance(m, nn.BatchNorm2d) for m in frozen.modules())
    torch.testing.assert_close(frozen(x), expected)


@pytest.fixture(params=sorted(NETWORKS))
def detector(request, tmp_path):
    """The option's detector on random pretrained weights (the real ones are in ../shared, which tests may not read)."""
    torch.manual_seed(0)
    path = tmp_path / "weights.pth"
    torch.save(NETWORKS[request.param]().state_dict(), path)
    return build(DetectorSpec(min_size=96, max_size=128), request.param, path)


def test_levels_have_the_sizes_the_runtime_path_assumes(detector):
    """FaceFCOS._forward_network sizes each level as the padded input over its stride, rounded up."""
    x = torch.zeros(1, 3, 96, 128)
    levels = detector.backbone(x)
    assert [tuple(f.shape[2:]) for f in levels.values()] == [(math.ceil(96 / s), math.ceil(128 / s)) for s in detector.strides]
    assert {f.shape[1] for f in levels.values()} == {64}


def test_trains_and_detects(detector):
    image = torch.rand(3, 80, 100)
    losses = detector.train()([image], [{"boxes": torch.tensor([[10.0, 10.0, 40.0, 45.0]]), "labels": torch.tensor([0])}])
    assert set(losses) == {"classification", "bbox_regression", "bbox_ctrness"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert detector.head.classification_head.cls_logits.weight.grad.abs().sum() > 0
    out = detector.eval()([image])[0]
    assert out["boxes"].shape[1] == 4 and np.all(np.diff(out["scores"].detach().numpy()) <= 0)
