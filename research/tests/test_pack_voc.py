import numpy as np

from research.pack_voc import pack
from tests.conftest import VOC_DIR
from training.voc import read_voc


def test_a_packed_image_is_shrunk_to_fit_with_its_boxes_and_labels(tmp_path):
    original = max(read_voc(VOC_DIR), key=lambda im: len(im.boxes))
    (tmp_path / "voc" / "images").mkdir(parents=True)
    (tmp_path / "voc" / "annotations").mkdir()
    assert pack(original, tmp_path, short=100, long=1000, quality=90) > 0
    packed = read_voc(tmp_path / "voc")[0]
    scale = 100 / min(original.width, original.height)
    assert min(packed.width, packed.height) == 100 and packed.load_rgb().shape[:2] == (packed.height, packed.width)
    assert packed.labels.tolist() == original.labels.tolist()
    np.testing.assert_allclose(packed.boxes, original.boxes * scale, atol=0.01)


def test_a_small_image_is_never_enlarged(tmp_path):
    original = read_voc(VOC_DIR)[0]
    (tmp_path / "voc" / "images").mkdir(parents=True)
    (tmp_path / "voc" / "annotations").mkdir()
    pack(original, tmp_path, short=10_000, long=10_000, quality=90)
    packed = read_voc(tmp_path / "voc")[0]
    assert (packed.width, packed.height) == (original.width, original.height)
    np.testing.assert_allclose(packed.boxes, original.boxes, atol=0.01)
