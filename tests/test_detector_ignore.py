"""Unannotated faces as IGNORE boxes in the detector's training loss (`FaceFCOS.compute_loss`)."""
import cv2
import numpy as np
import torch

from models.detector import IGNORE, DetectorSpec, build_detector, holds
from training.detector_engine import add_faces, load_images
from training.voc import VOCImage

STRIDE = 8


def grid_anchors(side: int = 64) -> torch.Tensor:
    """One level of FCOS anchors: a box of the stride's size around every location."""
    centres = torch.arange(STRIDE / 2, side, STRIDE)
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    points = torch.stack([x.flatten(), y.flatten()], 1)
    return torch.cat([points - STRIDE / 2, points + STRIDE / 2], 1)


def losses(target: dict) -> tuple[dict, torch.Tensor]:
    torch.manual_seed(0)
    model = build_detector(DetectorSpec(min_size=64, max_size=64))
    anchors = grid_anchors()
    logits = torch.randn(1, len(anchors), 1, requires_grad=True)
    outputs = {"cls_logits": logits, "bbox_regression": torch.randn(1, len(anchors), 4), "bbox_ctrness": torch.randn(1, len(anchors), 1)}
    loss = model.compute_loss([target], outputs, [anchors], [len(anchors)])
    loss["classification"].backward()
    return loss, logits.grad[0, :, 0]


FACE = torch.tensor([[0.0, 0.0, 24.0, 24.0]])
UNANNOTATED = torch.tensor([[40.0, 40.0, 64.0, 64.0]])


def test_locations_on_an_ignored_face_get_no_classification_gradient_and_the_rest_do():
    with_ignore, grad = losses({"boxes": torch.cat([FACE, UNANNOTATED]), "labels": torch.tensor([0, IGNORE])})
    plain, plain_grad = losses({"boxes": FACE, "labels": torch.tensor([0])})
    centres = (grid_anchors()[:, :2] + grid_anchors()[:, 2:]) / 2
    ignored = holds(UNANNOTATED, centres)
    assert ignored.sum() == 9
    assert torch.all(grad[ignored] == 0) and torch.all(plain_grad[ignored] != 0)  # background in the plain loss
    assert torch.all(grad[~ignored] != 0)
    assert with_ignore["classification"] < plain["classification"]
    for part in ("bbox_regression", "bbox_ctrness"):  # an ignored box is no face: nothing to regress
        torch.testing.assert_close(with_ignore[part], plain[part])


def test_ignore_boxes_keep_their_label_through_the_training_targets(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((64, 64, 3), np.uint8))
    image = VOCImage(tmp_path / "a.jpg", 64, 64, FACE.numpy(), np.array([2]), "d")
    [im] = add_faces([image], {"a": UNANNOTATED.tolist()}, IGNORE)
    assert im.labels.tolist() == [2, IGNORE]
    [(_, target)] = load_images([im], three_class=False)
    assert target["labels"].tolist() == [0, IGNORE]
