from models.pipeline import Face
from research.backend_agreement import compare


def face(box, label="with_mask"):
    return Face(box, label, 0.9)


def test_faces_agree_within_half_a_pixel_with_the_same_labels():
    torch_faces = [face([0, 0, 10, 10]), face([20, 20, 30, 30], "without_mask")]
    assert compare(torch_faces, [face([0.4, 0, 10, 10]), face([20, 20, 30, 30], "without_mask")])["same"]
    moved = compare(torch_faces, [face([0.6, 0, 10, 10]), face([20, 20, 30, 30], "without_mask")])
    relabelled = compare(torch_faces, [face([0, 0, 10, 10]), face([20, 20, 30, 30])])
    lost = compare(torch_faces, torch_faces[:1])
    assert not moved["same"] and not relabelled["same"] and relabelled["label_diffs"] == 1
    assert not lost["same"] and lost["count_diff"] == -1
