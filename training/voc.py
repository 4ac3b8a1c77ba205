"""Read PASCAL VOC folders (`images/` + `annotations/`) into boxes with the project's labels.

Datasets spell the classes their own way; `LABEL_MAP` knows the Kaggle and ILC spellings, and a user's
own names are added with `parse_label_map("helmet_mask=with_mask,...")` (the CLIs' `--label-map`).
"""
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.labels import CLASSES

LABEL_MAP = {"with_mask": "with_mask", "without_mask": "without_mask", "mask_worn_incorrectly": "mask_worn_incorrectly",
             "mask_weared_incorrect": "mask_worn_incorrectly",  # Kaggle, and some ILC annotators
             "with_incorrect_mask": "mask_worn_incorrectly"}  # ILC
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class VOCError(ValueError):
    """A VOC file that cannot be used; the message names the file."""


def parse_label_map(text: str) -> dict[str, str]:
    """`LABEL_MAP` plus the `name=class` pairs of `text` (comma-separated); each class must be one of `CLASSES`."""
    mapping = dict(LABEL_MAP)
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, sep, target = (s.strip() for s in pair.partition("="))
        if not sep or not name or target not in CLASSES:
            raise VOCError(f"label map entry {pair!r}: expected NAME=CLASS with CLASS one of {', '.join(CLASSES)}")
        mapping[name] = target
    return mapping


@dataclass
class VOCImage:
    """One annotated image: its path, size, boxes [x1, y1, x2, y2] (clipped) with label indices, and its folder's name."""

    image_path: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    dataset: str = ""

    @property
    def stem(self) -> str:
        return self.image_path.stem

    def load_rgb(self) -> np.ndarray:
        image = cv2.imread(str(self.image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise VOCError(f"{self.image_path}: cannot decode image")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _number(node: ET.Element, tag: str, xml_path: Path) -> float:
    child = node.find(tag)
    try:
        return float(child.text)
    except (AttributeError, TypeError, ValueError):
        raise VOCError(f"{xml_path}: missing or non-numeric <{tag}>") from None


def _find_image(folder: Path, xml_path: Path, filename: str | None) -> Path:
    candidates = [folder / "images" / filename] if filename else []
    candidates += [folder / "images" / (xml_path.stem + s) for s in IMAGE_SUFFIXES]
    for path in candidates:
        if path.is_file():
            return path
    raise VOCError(f"{xml_path}: image not found (looked for {candidates[0]})")


def parse_annotation(xml_path: Path, folder: Path, label_map: dict[str, str] = LABEL_MAP) -> VOCImage:
    """Parse one VOC XML file; boxes are clipped to the image and labels mapped to `CLASSES` indices."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as err:
        raise VOCError(f"{xml_path}: broken XML ({err})") from None
    size = root.find("size")
    if size is None:
        raise VOCError(f"{xml_path}: no <size> element")
    width, height = int(_number(size, "width", xml_path)), int(_number(size, "height", xml_path))
    image_path = _find_image(folder, xml_path, root.findtext("filename"))
    boxes, labels = [], []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in label_map:
            raise VOCError(f"{xml_path}: unknown class {name!r} (map it with --label-map {name}=CLASS)")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise VOCError(f"{xml_path}: object without <bndbox>")
        x1, y1, x2, y2 = (_number(bndbox, t, xml_path) for t in ("xmin", "ymin", "xmax", "ymax"))
        x1, x2 = np.clip([x1, x2], 0, width)
        y1, y2 = np.clip([y1, y2], 0, height)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        boxes.append([x1, y1, x2, y2])
        labels.append(CLASSES.index(label_map[name]))
    return VOCImage(image_path, width, height, np.array(boxes, dtype=np.float32).reshape(-1, 4),
                    np.array(labels, dtype=np.int64), folder.name)


def read_voc(folder: str | Path, label_map: dict[str, str] = LABEL_MAP) -> list[VOCImage]:
    """Every annotated image of a VOC folder, sorted by file name."""
    folder = Path(folder)
    xml_files = sorted((folder / "annotations").glob("*.xml"))
    if not xml_files:
        raise VOCError(f"{folder}: no annotations/*.xml found")
    return [parse_annotation(path, folder, label_map) for path in xml_files]


def read_vocs(folders: list[str | Path], label_map: dict[str, str] = LABEL_MAP) -> list[VOCImage]:
    """The images of several VOC folders, folder by folder; image stems must be unique across them (splits name images by stem)."""
    images = [im for folder in folders for im in read_voc(folder, label_map)]
    seen: dict[str, Path] = {}
    for im in images:
        if im.stem in seen:
            raise VOCError(f"{im.image_path}: the stem {im.stem!r} is also {seen[im.stem]}; stems must be unique across folders")
        seen[im.stem] = im.image_path
    return images
