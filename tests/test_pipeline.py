import cv2
import numpy as np
import pytest

from models.labels import CLASSES
from models.pipeline import Job, MaskPipeline, to_rgb
from training.detection_metrics import iou


@pytest.fixture(scope="module")
def pipeline() -> MaskPipeline:
    return MaskPipeline()


def check_faces(faces, width, height):
    for face in faces:
        x1, y1, x2, y2 = face.box
        assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
        assert face.label in CLASSES
        assert face.label == max(face.scores, key=face.scores.get)
        assert sum(face.scores.values()) == pytest.approx(1, abs=1e-4)
        assert 0 <= face.detection_score <= 1


def test_finds_the_known_faces_of_the_fixtures(pipeline, voc_images):
    matched = total = 0
    for im in voc_images:
        faces = pipeline(im.load_rgb())
        check_faces(faces, im.width, im.height)
        boxes = np.array([f.box for f in faces]).reshape(-1, 4)
        overlap = iou(im.boxes, boxes)
        matched += int((overlap.max(axis=1, initial=0) >= 0.5).sum()) if len(boxes) else 0
        total += len(im.boxes)
    assert matched / total >= 0.75, f"found {matched} of {total} annotated faces"


def test_given_boxes_are_classified_in_order_and_clipped(pipeline, voc_images):
    im = voc_images[0]
    boxes = np.vstack([im.boxes[::-1], [[-20, -20, 30, 30]]])
    faces = pipeline(im.load_rgb(), boxes=boxes)
    assert [f.box for f in faces[:-1]] == [[round(float(v), 2) for v in b] for b in im.boxes[::-1]]
    assert all(f.detection_score == 1.0 for f in faces)
    assert len(faces) == len(boxes)


def test_blank_image_has_no_faces(pipeline):
    assert pipeline(np.full((300, 400, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("shape", [(1, 1, 3), (3000, 4000, 3), (7, 900, 3)])
def test_any_size_and_aspect_ratio(pipeline, shape, voc_images):
    image = np.full(shape, 200, np.uint8)
    if shape[0] >= 300:
        face = voc_images[0].load_rgb()
        image[:face.shape[0] * 5, :face.shape[1] * 5] = cv2.resize(face, None, fx=5, fy=5)
    faces = pipeline(image)
    check_faces(faces, shape[1], shape[0])
    if shape[0] >= 300:
        assert len(faces) >= 3


def test_a_frame_shrunk_by_the_caller_gives_the_same_faces(pipeline, voc_images):
    rgb = voc_images[0].load_rgb()
    frame = cv2.resize(rgb, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    small = pipeline.shrink(frame)
    assert min(small.shape[:2]) <= pipeline.detector_spec.min_size and max(small.shape[:2]) <= pipeline.detector_spec.max_size
    assert pipeline.shrink(rgb) is rgb  # already small enough: no copy
    given, made = pipeline.run([Job(frame, small=small), Job(frame)])[0]
    assert given and given == made
    right_edge = max(f.box[2] for f in given) / frame.shape[1]  # boxes come back in the frame's own pixels
    assert right_edge == pytest.approx(max(f.box[2] for f in pipeline(rgb)) / rgb.shape[1], abs=0.02)


def test_grayscale_rgba_and_16_bit_inputs(pipeline, voc_images):
    rgb = voc_images[0].load_rgb()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    for image in (gray, gray[:, :, None], rgba, rgb.astype(np.uint16) * 257):
        faces = pipeline(image)
        check_faces(faces, rgb.shape[1], rgb.shape[0])
        assert faces
    assert len(pipeline(rgba)) == len(pipeline(rgb))


def test_to_rgb_shapes():
    assert to_rgb(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert to_rgb(np.zeros((4, 5, 2), np.uint8)).shape == (4, 5, 3)
    assert to_rgb(np.full((2, 2, 3), 65535, np.uint16)).max() == 255


def test_three_class_detector_returns_one_box_per_face():
    """Suppression is across classes: no two kept boxes overlap past the NMS threshold, whatever their labels."""
    import torch

    from models.detector import DetectorSpec, build_detector, detect

    torch.manual_seed(0)
    spec = DetectorSpec(num_classes=3, min_size=128, max_size=160, score_thresh=0.0)
    model = build_detector(spec)
    found = detect(model, [np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)])[0]
    boxes, scores = found["boxes"], found["class_scores"]
    assert len(boxes) > 10 and len(set(found["labels"].tolist())) > 1
    real = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])].numpy()  # an untrained head makes some empty
    assert len(real) > 10 and (iou(real, real) - np.eye(len(real))).max() <= spec.nms_thresh + 1e-6
    assert torch.allclose(scores.sum(1), torch.ones(len(scores)))
    assert torch.equal(found["labels"], scores.argmax(1))


def test_batched_postprocessing_matches_torchvisions_per_image_loop(pipeline, voc_images):
    """One class: FaceFCOS's whole-batch post-processing keeps exactly the boxes torchvision's FCOS keeps per image."""
    import torch
    from torchvision.models.detection import FCOS

    from bench.speedups import head_outputs
    from models.detector import image_tensor

    model = pipeline.detector
    rgbs = [im.load_rgb() for im in voc_images] + [np.zeros((90, 200, 3), np.uint8)]  # a faceless one too
    outputs = head_outputs(model, [image_tensor(rgb) for rgb in rgbs])
    floor = model.score_thresh
    try:
        # under 0.2, padding makes runs of equal scores, and which of them fill the 300 places is arbitrary
        for model.score_thresh in (0.2, 0.5):  # at 0.5 the blank image keeps nothing
            with torch.inference_mode():
                ours, theirs = model.postprocess_detections(*outputs), FCOS.postprocess_detections(model, *outputs)
            assert sum(len(o["boxes"]) for o in ours) >= len(voc_images)
            for o, t in zip(ours, theirs, strict=True):
                assert sorted(o["boxes"].tolist()) == sorted(t["boxes"].tolist())  # equal scores may swap places
                assert torch.allclose(o["scores"], t["scores"])
    finally:
        model.score_thresh = floor
    assert len(ours[-1]["boxes"]) == 0
