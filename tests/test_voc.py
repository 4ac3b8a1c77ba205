from pathlib import Path

import numpy as np
import pytest

from models.labels import CLASSES
from tests.conftest import VOC_DIR
from training.voc import (
    VOCError,
    parse_annotation,
    parse_label_map,
    read_voc,
    read_vocs,
)

XML = """<annotation><filename>{name}</filename><size><width>100</width><height>80</height><depth>3</depth></size>
{objects}</annotation>"""
OBJ = "<object><name>{label}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"


def write_voc(root: Path, stem: str, objects: list[tuple[str, tuple]], with_image: bool = True) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    if with_image:
        (root / "images" / f"{stem}.png").write_bytes(b"not decoded by the parser")
    xml = XML.format(name=f"{stem}.png", objects="".join(OBJ.format(label=name, b=b) for name, b in objects))
    path = root / "annotations" / f"{stem}.xml"
    path.write_text(xml)
    return path


def test_fixture_folder_parses_with_project_labels(voc_images):
    assert [im.stem for im in voc_images] == sorted(im.stem for im in voc_images)
    labels = np.concatenate([im.labels for im in voc_images])
    assert set(labels.tolist()) == {0, 1, 2}
    im = next(im for im in voc_images if im.stem == "maksssksksss760")
    assert len(im.labels) == 7 and im.boxes.shape == (7, 4)
    assert im.load_rgb().shape == (im.height, im.width, 3)


def test_misspelled_class_maps_to_mask_worn_incorrectly(tmp_path):
    xml = write_voc(tmp_path, "a", [("mask_weared_incorrect", (1, 2, 30, 40)), ("with_mask", (5, 5, 20, 20))])
    im = parse_annotation(xml, tmp_path)
    assert [CLASSES[i] for i in im.labels] == ["mask_worn_incorrectly", "with_mask"]


def test_boxes_are_clipped_to_the_image(tmp_path):
    xml = write_voc(tmp_path, "a", [("without_mask", (-5, 60, 120, 95))])
    im = parse_annotation(xml, tmp_path)
    np.testing.assert_array_equal(im.boxes[0], [0, 60, 100, 80])


def test_broken_xml_names_the_file(tmp_path):
    xml = write_voc(tmp_path, "broken", [("with_mask", (1, 1, 9, 9))])
    xml.write_text(xml.read_text()[:-40])
    with pytest.raises(VOCError, match="broken.xml"):
        read_voc(tmp_path)


def test_missing_image_names_the_file(tmp_path):
    write_voc(tmp_path, "lonely", [("with_mask", (1, 1, 9, 9))], with_image=False)
    with pytest.raises(VOCError, match="lonely.xml.*image not found"):
        read_voc(tmp_path)


def test_unknown_class_and_empty_folder_fail_clearly(tmp_path):
    write_voc(tmp_path / "x", "odd", [("helmet", (1, 1, 9, 9))])
    with pytest.raises(VOCError, match="odd.xml.*helmet.*--label-map helmet=CLASS"):
        read_voc(tmp_path / "x")
    with pytest.raises(VOCError, match="no annotations"):
        read_voc(tmp_path / "empty")


def test_fixture_dir_exists():
    assert (VOC_DIR / "annotations").is_dir()


def test_ilc_spelling_maps_and_a_label_map_adds_names(tmp_path):
    write_voc(tmp_path / "ilc", "a", [("with_incorrect_mask", (1, 1, 9, 9)), ("mask_weared_incorrect", (2, 2, 9, 9))])
    write_voc(tmp_path / "own", "b", [("masked", (1, 1, 9, 9)), ("bare", (2, 2, 9, 9))])
    (ilc,) = read_voc(tmp_path / "ilc")
    assert [CLASSES[i] for i in ilc.labels] == ["mask_worn_incorrectly"] * 2 and ilc.dataset == "ilc"
    (own,) = read_voc(tmp_path / "own", parse_label_map("masked=with_mask, bare=without_mask"))
    assert [CLASSES[i] for i in own.labels] == ["with_mask", "without_mask"]


@pytest.mark.parametrize("text", ["masked", "masked=helmet", "=with_mask"])
def test_a_bad_label_map_entry_says_what_is_expected(text):
    with pytest.raises(VOCError, match="NAME=CLASS"):
        parse_label_map(text)


def test_several_folders_are_read_in_order_and_stems_must_be_unique(tmp_path):
    write_voc(tmp_path / "one", "a", [("with_mask", (1, 1, 9, 9))])
    write_voc(tmp_path / "two", "b", [("without_mask", (1, 1, 9, 9))])
    images = read_vocs([tmp_path / "two", tmp_path / "one"])
    assert [(im.stem, im.dataset) for im in images] == [("b", "two"), ("a", "one")]
    write_voc(tmp_path / "three", "a", [("with_mask", (1, 1, 9, 9))])
    with pytest.raises(VOCError, match="three/images/a.png.*also.*one/images/a.png"):
        read_vocs([tmp_path / "one", tmp_path / "three"])
