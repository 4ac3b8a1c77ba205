"""A contact sheet of a detector's confident false positives, to find the real faces the annotations miss.

    python -m research.false_positives sheet --data ../shared/data/ilc-face-mask --part test --out runs/fp
    # look at runs/fp/sheet.png; then write the numbers of the real, unannotated faces as ignore regions:
    python -m research.false_positives ignore runs/fp/false_positives.json --real 3 7 12 --out runs/fp/unannotated.json
    # another detector's sheet, leaving off the faces already decided, and the union written out:
    python -m research.false_positives sheet ... --known runs/fp/unannotated.json --out runs/fp2
    python -m research.false_positives ignore runs/fp2/false_positives.json --real 1 4 --base runs/fp/unannotated.json --out both.json

`sheet` runs the shipped detector (or --detector-weights) at the service's settings; every detection at or
above --min-confidence that shares under half of its area with every annotated face, and holds under half
of each annotated face, is numbered on the sheet, best first: a box on part of an annotated face, or
around one, is a localisation error, not a candidate unannotated face.
`ignore` turns the chosen numbers into the {stem: boxes} file `training.evaluate --ignore` reads.
"""
import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from models.pipeline import DEFAULT_DETECTOR, MaskPipeline
from training.data import add_data_args, load_data
from training.detection_metrics import ignored
from training.evaluate import load_ignore, select_part
from training.splits import PARTS

TILE = 112


def tile(rgb: np.ndarray, box: np.ndarray, number: int) -> np.ndarray:
    """The box with as much context again around it, its outline drawn, its number written."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    left, top = int(max(0, x1 - w / 2)), int(max(0, y1 - h / 2))
    crop = rgb[top:int(min(rgb.shape[0], y2 + h / 2)), left:int(min(rgb.shape[1], x2 + w / 2))].copy()
    cv2.rectangle(crop, (int(x1 - left), int(y1 - top)), (int(x2 - left), int(y2 - top)), (255, 160, 0), 1)
    out = cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA)
    cv2.putText(out, str(number), (3, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
    return out


def overlap_share(boxes: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    """For each box, the largest share of its own area inside one annotated box, or of one annotated box inside it."""
    if len(annotated) == 0 or len(boxes) == 0:
        return np.zeros(len(boxes))
    lo = np.maximum(boxes[:, None, :2], annotated[None, :, :2])
    hi = np.minimum(boxes[:, None, 2:], annotated[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(2)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    annotated_area = (annotated[:, 2] - annotated[:, 0]) * (annotated[:, 3] - annotated[:, 1])
    return np.maximum(inter / np.maximum(area[:, None], 1e-9), inter / np.maximum(annotated_area[None], 1e-9)).max(1)


def sheet(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    images = select_part(load_data(parser, args), args.part)
    pipeline = MaskPipeline(args.detector_weights)
    known = load_ignore(args.known)
    found, tiles = [], []
    for im in images:
        rgb = im.load_rgb()
        boxes, scores = pipeline.detect(rgb)
        keep = scores >= args.min_confidence
        boxes, scores = boxes[keep], scores[keep]
        outside = overlap_share(boxes, im.boxes) < 0.5
        outside &= ~ignored(im.boxes, known.get(im.stem, np.zeros((0, 4))), boxes)  # decided on an earlier sheet
        for box, score in zip(boxes[outside], scores[outside]):
            found.append({"stem": im.stem, "box": [round(float(v), 1) for v in box], "score": round(float(score), 3), "rgb": rgb})
    found.sort(key=lambda f: -f["score"])
    for number, f in enumerate(found):
        tiles.append(tile(f.pop("rgb"), np.array(f["box"]), number))
        f["number"] = number
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "false_positives.json").write_text(json.dumps({"images": len(images), "detector": pipeline.detector_name,
                                                          "min_confidence": args.min_confidence, "found": found}, indent=1))
    cols = 12
    rows = [tiles[i:i + cols] + [np.zeros((TILE, TILE, 3), np.uint8)] * (cols - len(tiles[i:i + cols])) for i in range(0, len(tiles), cols)]
    if rows:
        cv2.imwrite(str(out / "sheet.png"), cv2.cvtColor(np.vstack([np.hstack(r) for r in rows]), cv2.COLOR_RGB2BGR))
    print(f"{len(found)} confident detections on no annotated face in {len(images)} images: {out / 'sheet.png'}")


def ignore(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    found = {f["number"]: f for f in json.loads(Path(args.found).read_text())["found"]}
    unknown = sorted(set(args.real) - set(found))
    if unknown:
        parser.error(f"no false positive numbered {unknown} in {args.found}")
    regions: dict[str, list] = json.loads(Path(args.base).read_text()) if args.base else {}
    for number in sorted(args.real):
        regions.setdefault(found[number]["stem"], []).append(found[number]["box"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(regions, indent=1) + "\n")
    print(f"{sum(map(len, regions.values()))} unannotated faces in {len(regions)} images: {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("sheet")
    add_data_args(make)
    make.add_argument("--part", choices=PARTS, default="test")
    make.add_argument("--detector-weights", default=str(DEFAULT_DETECTOR))
    make.add_argument("--min-confidence", type=float, default=0.3)
    make.add_argument("--known", help="an `ignore` file: detections on faces it holds (IoU >= 0.5) are left off the sheet")
    make.add_argument("--out", required=True)
    pick = commands.add_parser("ignore")
    pick.add_argument("found", help="false_positives.json written by `sheet`")
    pick.add_argument("--real", type=int, nargs="*", default=[], help="numbers on the sheet that are real, unannotated faces")
    pick.add_argument("--base", help="an earlier `ignore` file: the output holds its faces too")
    pick.add_argument("--out", required=True)
    args = parser.parse_args()
    (sheet if args.command == "sheet" else ignore)(args, parser)


if __name__ == "__main__":
    main()
