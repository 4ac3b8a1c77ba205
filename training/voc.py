"""Read PASCAL VOC folders (`images/` + `annotations/`) into boxes with the project's labels."""
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.labels import CLASSES

# The dataset spells one class differently from the labels the project uses.
LABEL_ALIASES = {"with_mask": "with_mask", "without_mask": "without_mask", "mask_weared_incorrect": "mask_worn_incorrectly",
                 "mask_worn_incorrectly": "mask_worn_incorrectly"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class VOCError(ValueError):
    """A VOC file that cannot be used; the message names the file."""


@dataclass
class VOCImage:
    """One annotated image: its path, size, and boxes [x1, y1, x2, y2] (clipped) with label indices."""

    image_path: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray

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


def parse_annotation(xml_path: Path, folder: Path) -> VOCImage:
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
        if name not in LABEL_ALIASES:
            raise VOCError(f"{xml_path}: unknown class {name!r}")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise VOCError(f"{xml_path}: object without <bndbox>")
        x1, y1, x2, y2 = (_number(bndbox, t, xml_path) for t in ("xmin", "ymin", "xmax", "ymax"))
        x1, x2 = np.clip([x1, x2], 0, width)
        y1, y2 = np.clip([y1, y2], 0, height)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        boxes.append([x1, y1, x2, y2])
        labels.append(CLASSES.index(LABEL_ALIASES[name]))
    return VOCImage(image_path, width, height, np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(labels, dtype=np.int64))


def read_voc(folder: str | Path) -> list[VOCImage]:
    """Every annotated image of a VOC folder, sorted by file name."""
    folder = Path(folder)
    xml_files = sorted((folder / "annotations").glob("*.xml"))
    if not xml_files:
        raise VOCError(f"{folder}: no annotations/*.xml found")
    return [parse_annotation(path, folder) for path in xml_files]
