import torch

from research.anchor_boxes import faces_in_pixels, priors


def test_zero_offsets_give_the_anchor_boxes_and_suppression_keeps_the_best():
    anchors = priors(16, 16, ((8,),), (8,), clip=False)
    assert anchors.tolist() == [[0.25, 0.25, 0.5, 0.5], [0.75, 0.25, 0.5, 0.5], [0.25, 0.75, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]]
    boxes, scores = faces_in_pixels(torch.zeros(4, 4), torch.tensor([0.9, 0.01, 0.5, 0.2]), 16, 16, ((8,),), (8,), False, 0.05, 0.3)
    assert boxes.tolist() == [[0, 0, 8, 8], [0, 8, 8, 16], [8, 8, 16, 16]]
    assert scores.round(2).tolist() == [0.9, 0.5, 0.2]
    assert priors(16, 16, ((32,),), (8,), clip=True)[:, 2:].max() == 1
