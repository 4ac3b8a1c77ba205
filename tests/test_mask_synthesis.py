"""Masks drawn onto unmasked faces (training/mask_synthesis.py): where they sit, what label they get, and that a
fold trains only on the synthetic faces of its own training images. A stand-in landmark finder keeps these tests
off ../shared (YuNet and the MIT templates live there)."""
import numpy as np
import pytest

from training.crossval import fold_indices
from training.faces import FaceTable
from training.mask_synthesis import STYLES, WITH, LandmarkFinder, add_synthetic_faces, draw_mask, drawn_cloth, face_points, load_templates, sized_template, synthetic_for, worn
from training.splits import INCORRECT, WITHOUT

# a frontal face in a 100 x 100 box: eyes, nose tip, mouth corners
LANDMARKS = np.float32([[35, 40], [65, 40], [50, 58], [38, 72], [62, 72]])
BOX = np.float32([10, 10, 90, 100])


def test_a_correct_mask_covers_nose_and_mouth_and_the_others_leave_them_out():
    points = face_points(LANDMARKS, BOX)
    bridge, chin = points[1], points[4]
    assert 40 < bridge[1] < 58 and chin[1] > 72  # between the eyes and the nose tip, and below the mouth
    assert points[0][0] < 50 < points[2][0] and points[3][0] < 50 < points[5][0]  # jaw left and right of the nose
    rng = np.random.default_rng(0)
    assert worn(points, LANDMARKS, "correct", rng)[1][1] < 58
    assert worn(points, LANDMARKS, "nose_out", rng)[1][1] > 58  # the top below the nose tip
    assert worn(points, LANDMARKS, "chin", rng)[1][1] > 72  # the top below the mouth
    askew = worn(points, LANDMARKS, "askew", rng)
    assert abs(askew[0][1] - askew[2][1]) > 5  # one side higher than the other


@pytest.mark.parametrize(("style", "nose_covered"), [("correct", True), ("nose_out", False), ("chin", False)])
def test_the_drawn_mask_hides_the_nose_only_when_worn_correctly(style, nose_covered):
    image = np.full((110, 100, 3), 128, np.uint8)
    template = drawn_cloth(np.random.default_rng(3))
    template.rgba[..., :3] = 0  # a black mask on a grey face: grain and JPEG move a pixel by far less than 64
    points = worn(face_points(LANDMARKS, BOX), LANDMARKS, style, np.random.default_rng(0))
    masked, area = draw_mask(image, template, points, np.random.default_rng(0))
    assert 0.1 < area / 80 / 90 < 0.8
    nose, mouth = (57, 50), (72, 50)  # rows and columns: just above the nose tip, the middle of the mouth
    assert bool(masked[nose].mean() < 64) == nose_covered
    assert bool(masked[mouth].mean() < 64) == (style != "chin")


def test_a_small_face_gets_its_mask_from_a_template_shrunk_to_about_its_size():
    template = drawn_cloth(np.random.default_rng(0))
    small = face_points(LANDMARKS, BOX) / 5  # a face of 16 x 18 px
    shrunk = sized_template(template, small)
    assert shrunk.rgba.shape[1] < template.rgba.shape[1] / 4
    assert np.allclose(shrunk.anchors[:, 0] / shrunk.rgba.shape[1], template.anchors[:, 0] / template.rgba.shape[1], atol=0.01)
    assert sized_template(template, face_points(LANDMARKS, BOX) * 3) is template  # a large face needs no shrinking


def fixture_table(voc_images) -> FaceTable:
    return FaceTable.from_voc(voc_images)


def landmarks_of(patch: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A stand-in for YuNet: the frontal landmarks above, scaled into the box."""
    return box[:2] + (LANDMARKS - BOX[:2]) / (BOX[2:] - BOX[:2]) * (box[2:] - box[:2])


def test_every_large_enough_unmasked_face_gets_a_masked_twin(voc_images):
    table = fixture_table(voc_images)
    real = len(table.labels)
    source = add_synthetic_faces(table, min_side=16, templates=[drawn_cloth(np.random.default_rng(0))], finder=landmarks_of)
    made = np.flatnonzero(source >= 0)
    unmasked = np.flatnonzero(table.labels[:real] == WITHOUT)
    assert len(made) == len(unmasked) and (made >= real).all()
    assert set(table.labels[made].tolist()) <= {WITH, INCORRECT}
    assert {table.ids[i].split("~")[1] for i in made} <= set(STYLES)
    assert np.array_equal(source[made], table.image_index[unmasked])  # each remembers the image it came from
    crops = table.crops(made, 32, 0.15)
    assert crops.shape == (len(made), 32, 32, 3) and crops.std() > 0


def test_a_fold_trains_on_the_synthetic_faces_of_its_training_images_only(voc_images):
    table = fixture_table(voc_images)
    source = add_synthetic_faces(table, min_side=0, templates=[drawn_cloth(np.random.default_rng(0))], finder=landmarks_of)
    test_stems = [voc_images[1].stem]
    train_idx, val_idx, test_idx = fold_indices(table, voc_images, test_stems, 0, synthetic=source)
    synthetic_train = train_idx[source[train_idx] >= 0]
    train_images = {table.stems[i] for i in table.image_index[train_idx[source[train_idx] < 0]]}
    assert len(synthetic_train) > 0
    assert {table.stems[source[i]] for i in synthetic_train} <= train_images
    assert (source[val_idx] < 0).all() and (source[test_idx] < 0).all()
    assert len(synthetic_for(table, source, test_stems)) > 0  # the held-out image had some, and they were left out
    assert not set(synthetic_for(table, source, test_stems)) & set(train_idx)


def test_missing_templates_or_landmark_model_say_where_they_were_looked_for(tmp_path, voc_images):
    with pytest.raises(FileNotFoundError, match="no mask templates"):
        add_synthetic_faces(FaceTable.from_voc(voc_images), finder=landmarks_of, templates=load_templates(tmp_path))
    with pytest.raises(FileNotFoundError, match="no YuNet"):
        LandmarkFinder(tmp_path / "yunet.onnx")
