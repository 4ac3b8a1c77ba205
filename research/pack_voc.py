"""Copy parts of the image split as small WebP images with their boxes rescaled, into VOC folders of the same
names: the two datasets' train part is 218 MB as PNG and JPEG, over the 64 MiB a lent GPU machine is sent.

    python -m research.pack_voc --parts train --out .gpu/data                 # the train part, both datasets
    python -m research.pack_voc --parts val --only face-mask-detection --out .gpu/data

An image is shrunk, never enlarged, so that it fits `--short` x `--long`, the largest training scale: what the
detector sees in training is unchanged but for the compression (`--quality`).
"""
import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
from tqdm import tqdm

from models.labels import CLASSES
from training.data import add_data_args, load_data
from training.splits import SPLIT_FILES, load_split
from training.voc import VOCImage


def annotation(im: VOCImage, name: str, scale: float, size: tuple[int, int]) -> ET.ElementTree:
    """A VOC annotation of `im` for its image shrunk by `scale` to `size` (width, height), classes by name."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = name
    size_node = ET.SubElement(root, "size")
    ET.SubElement(size_node, "width").text, ET.SubElement(size_node, "height").text = map(str, size)
    for box, label in zip(im.boxes * scale, im.labels):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = CLASSES[label]
        bndbox = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box):
            ET.SubElement(bndbox, tag).text = f"{value:.2f}"
    return ET.ElementTree(root)


def pack(im: VOCImage, out: Path, short: int, long: int, quality: int) -> int:
    """Write `im` under `out/<dataset>/`; returns the image's bytes."""
    rgb = im.load_rgb()
    height, width = rgb.shape[:2]
    scale = min(1.0, short / min(height, width), long / max(height, width))
    size = (round(width * scale), round(height * scale))
    if scale < 1:
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    folder = out / im.dataset
    name = f"{im.stem}.webp"
    ok, data = cv2.imencode(".webp", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise OSError(f"{im.image_path}: WebP encoding failed")
    (folder / "images" / name).write_bytes(data.tobytes())
    annotation(im, name, scale, size).write(folder / "annotations" / f"{im.stem}.xml")
    return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--split-file", default=str(SPLIT_FILES["image"]))
    parser.add_argument("--parts", nargs="+", default=["train"], choices=["train", "val", "test"])
    parser.add_argument("--only", nargs="+", help="these datasets (folder names) only")
    parser.add_argument("--short", type=int, default=576, help="largest short side kept (default: %(default)s)")
    parser.add_argument("--long", type=int, default=768, help="largest long side kept (default: %(default)s)")
    parser.add_argument("--quality", type=int, default=75, help="WebP quality (default: %(default)s)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    split = load_split(args.split_file)
    stems = {s for part in args.parts for s in split[part]}
    images = [im for im in load_data(parser, args) if im.stem in stems and (not args.only or im.dataset in args.only)]
    out = Path(args.out)
    for dataset in {im.dataset for im in images}:
        (out / dataset / "images").mkdir(parents=True, exist_ok=True)
        (out / dataset / "annotations").mkdir(parents=True, exist_ok=True)
    total = sum(pack(im, out, args.short, args.long, args.quality) for im in tqdm(images, desc="packing"))
    print(f"{len(images)} images, {total / 2**20:.1f} MiB, in {out}")


if __name__ == "__main__":
    main()
