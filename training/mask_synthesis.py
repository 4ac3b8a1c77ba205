"""Masks drawn onto unmasked training faces: worn correctly, or worn incorrectly as people do.

    python -m training.mask_synthesis --out runs/synthetic_sheet.jpg    # a sheet of examples to look at

The method is MaskTheFace's (MIT): a mask template is warped so that six anchor points on it land on six points
of the lower face. The templates and their anchors are ../shared/data/mask-templates (MIT; its README); the
placement is ours. The six face points come from five landmarks (eyes, nose tip, mouth corners) given by YuNet,
the WIDER FACE detector in ../shared/pretrained that OpenCV runs (`cv2.FaceDetectorYN`), and from the face's box.

Worn incorrectly is the same mask moved: down below the nose tip (nose out), down onto the chin (nose and mouth
out), or turned and shifted to one side. Besides the 21 templates, every mask is recoloured (mostly in the
colours masks are sold in), now and then patterned, or replaced by a drawn cloth shape of our own half the time,
so that the classifier cannot learn 21 pictures. A mask is drawn as the photo shows the face: from a template
shrunk to about its size, softened, grainy, and through one JPEG pass.
Each synthetic face is a new image in the `FaceTable`, a patch around its source face, and remembers that
source image: a fold or part trains on the synthetic faces of its own training images only.
"""
import argparse
import configparser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.labels import CLASSES
from training.data import SHARED_DATA
from training.faces import FaceTable
from training.splits import INCORRECT, WITHOUT

TEMPLATES = SHARED_DATA / "mask-templates"
YUNET = SHARED_DATA.parent / "pretrained" / "yunet_n_640_640.onnx"
WITH = CLASSES.index("with_mask")
STYLES = ("correct", "nose_out", "chin", "askew")
# shares of each style: about half the synthetic faces are worn incorrectly, half correctly, so that a drawn
# mask alone does not say "incorrect"; nose out is how most real incorrectly-worn masks look
STYLE_SHARES = (0.45, 0.3, 0.1, 0.15)
LANDMARK_SIDE = 160  # the face is scaled to about this many pixels for YuNet, which misses small faces
PATCH_MARGIN = 0.6  # context kept around the source face, enough for crops with jitter and margin
MASK_AREA = (0.1, 0.8)  # a drawn mask's area as a share of its face box's; outside it the warp went wrong
# colours masks are mostly sold in (surgical blue and green, white, black, grey, navy, pink, beige): a mask in a
# random colour with a loud pattern looks drawn, and a classifier can learn "drawn" instead of "worn"
MASK_COLOURS = np.float32([[150, 190, 220], [170, 210, 190], [235, 235, 235], [35, 35, 38], [130, 130, 135],
                           [40, 50, 90], [225, 180, 190], [200, 180, 150]])


@dataclass
class Template:
    name: str
    rgba: np.ndarray  # (H, W, 4) uint8
    anchors: np.ndarray  # (6, 2) float32: mask_a .. mask_f


def load_templates(folder: Path = TEMPLATES) -> list[Template]:
    if not (folder / "masks.cfg").is_file():
        raise FileNotFoundError(f"no mask templates at {folder} (masks.cfg and templates/, as in ../shared/data/mask-templates)")
    cfg = configparser.ConfigParser()
    cfg.read(folder / "masks.cfg")
    out = []
    for name in (n for n in cfg.sections() if "template" in cfg[n]):  # it also names MaskTheFace's empty modes
        rgba = cv2.imread(str(folder / cfg[name]["template"]), cv2.IMREAD_UNCHANGED)
        anchors = [[float(v) for v in cfg[name][f"mask_{k}"].split(",")] for k in "abcdef"]
        out.append(Template(name, cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA), np.float32(anchors)))
    return out


def mask_colour(rng: np.random.Generator) -> np.ndarray:
    """A common mask colour, a little off, most of the time; any colour otherwise."""
    if rng.random() < 0.8:
        return np.clip(MASK_COLOURS[rng.integers(len(MASK_COLOURS))] + rng.normal(0, 10, 3), 0, 255).astype(np.float32)
    return rng.integers(15, 240, 3).astype(np.float32)


def drawn_cloth(rng: np.random.Generator) -> Template:
    """A cloth mask of our own: a rounded shape through its six anchors, in one colour, darker towards its sides
    as a curved cloth is lit."""
    w, h = 300, 240
    anchors = np.float32([[12, 70], [150, 8], [288, 70], [24, 175], [150, 232], [276, 175]])
    outline = np.int32([anchors[0], [70, 22], anchors[1], [230, 22], anchors[2], anchors[5], [230, 215], anchors[4],
                        [70, 215], anchors[3]])
    alpha = np.zeros((h, w), np.uint8)
    cv2.fillPoly(alpha, [outline], 255, cv2.LINE_AA)
    shade = 0.7 + 0.3 * np.cos(np.linspace(-np.pi / 2, np.pi / 2, w, dtype=np.float32))[None, :, None]
    rgb = np.broadcast_to(shade * mask_colour(rng), (h, w, 3)).copy()
    rgb[:, 149:151] *= 0.6  # the seam of a two-piece cloth mask
    return Template("drawn_cloth", np.dstack([rgb.astype(np.uint8), alpha]), anchors)


def restyle(template: Template, rng: np.random.Generator) -> Template:
    """The template in another colour, now and then with stripes or dots, keeping its folds' shading."""
    rgb = template.rgba[..., :3].astype(np.float32)
    shade = rgb.mean(axis=2, keepdims=True) / max(float(rgb.mean()), 1.0)
    out = np.clip(shade * mask_colour(rng), 0, 255)
    pattern = rng.choice(("plain", "stripes", "dots"), p=(0.8, 0.1, 0.1))
    if pattern != "plain":
        second = mask_colour(rng)
        yy, xx = np.mgrid[:rgb.shape[0], :rgb.shape[1]]
        period = int(rng.integers(12, 40))
        on = (yy // period) % 2 == 0 if pattern == "stripes" else ((yy % period) < period // 3) & ((xx % period) < period // 3)
        out[on] = np.clip(shade[on] * second, 0, 255)
    return Template(template.name + "_" + pattern, np.dstack([out.astype(np.uint8), template.rgba[..., 3]]), template.anchors)


def face_points(landmarks: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Where the six anchors of a correctly worn mask fall on this face: jaw at nose height, nose bridge, jaw at
    lip height and chin, from YuNet's five landmarks and the face box."""
    eyes = landmarks[:2][np.argsort(landmarks[:2, 0])]
    nose, mouth = landmarks[2], landmarks[3:5].mean(axis=0)
    eye_gap = max(float(np.linalg.norm(eyes[1] - eyes[0])), 2.0)
    u = (eyes[1] - eyes[0]) / eye_gap
    v = np.array([-u[1], u[0]])
    nose_to_mouth = max(float((mouth - nose) @ v), 0.2 * eye_gap)
    left = np.clip(nose[0] - box[0], 0.6 * eye_gap, 1.6 * eye_gap)
    right = np.clip(box[2] - nose[0], 0.6 * eye_gap, 1.6 * eye_gap)
    bridge = eyes.mean(axis=0) + 0.3 * (nose - eyes.mean(axis=0))  # high enough that landmark error leaves the nose covered
    lip = mouth + 0.35 * nose_to_mouth * v
    chin = mouth + 2.0 * nose_to_mouth * v
    return np.float32([nose - left * u, bridge, nose + right * u, lip - 0.9 * left * u, chin, lip + 0.9 * right * u])


def worn(points: np.ndarray, landmarks: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """The face points moved for a mask worn `style`: a correct mask only jitters; pulled down, its top edge
    goes below the nose tip (or the mouth) while its bottom edge moves less, as a mask pulled down folds."""
    nose, mouth = landmarks[2], landmarks[3:5].mean(axis=0)
    down = points[4] - points[1]
    down = down / max(float(np.linalg.norm(down)), 1e-6)
    width = float(np.linalg.norm(points[2] - points[0]))
    if style == "correct":
        return points + rng.normal(0, 0.015 * width, points.shape).astype(np.float32)
    if style in ("nose_out", "chin"):
        below = nose if style == "nose_out" else mouth
        top = (below - points[1]) @ down + rng.uniform(0.03, 0.12) * width
        bottom = rng.uniform(0.05, 0.15 if style == "nose_out" else 0.3) * width
        return points + np.float32([[top], [top], [top], [bottom], [bottom], [bottom]]) * down
    angle = np.deg2rad(rng.uniform(15, 35) * rng.choice((-1, 1)))
    rotation = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = points.mean(axis=0)
    shift = (rng.uniform(0.1, 0.25) * width) * rng.choice((-1, 1)) * np.float32([down[1], -down[0]])
    return (points - centre) @ rotation.T + centre + shift + 0.3 * ((nose - points[1]) @ down) * down


def draw_mask(image: np.ndarray, template: Template, points: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """`image` with the template warped onto `points`, its colour dimmed to the face's light, as soft and grainy as
    the photo, and the mask's area in pixels."""
    template = sized_template(template, points)
    homography, _ = cv2.findHomography(template.anchors, points, 0)
    h, w = image.shape[:2]
    warped = cv2.warpPerspective(template.rgba, homography, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
    warped = cv2.GaussianBlur(warped.astype(np.float32), (0, 0), rng.uniform(0.3, 1.0))
    alpha = warped[..., 3:] / 255
    light = np.clip(image.mean() / 140.0, 0.45, 1.1)
    grain = rng.normal(0, rng.uniform(1, 5), warped[..., :3].shape)
    masked = np.clip(image * (1 - alpha) + (warped[..., :3] * light + grain) * alpha, 0, 255).astype(np.uint8)
    # one JPEG pass over the patch, so that the mask carries the photo's compression as the face around it does
    _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(masked, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 95))])
    return cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), float(alpha.sum())


def sized_template(template: Template, points: np.ndarray) -> Template:
    """The template area-resized to about the size it is drawn at: a 300-pixel template warped straight onto a
    30-pixel face aliases its edges and pattern into noise no camera makes."""
    scale = np.linalg.norm(points[2] - points[0]) / max(float(np.linalg.norm(template.anchors[2] - template.anchors[0])), 1.0)
    if scale >= 0.5:
        return template
    h, w = template.rgba.shape[:2]
    size = (max(int(w * scale * 2), 8), max(int(h * scale * 2), 8))  # twice the drawn size: the warp still has pixels to spare
    rgba = cv2.resize(template.rgba, size, interpolation=cv2.INTER_AREA)
    return Template(template.name, rgba, template.anchors * np.float32([size[0] / w, size[1] / h]))


class LandmarkFinder:
    """YuNet's five landmarks of the face in a box, found on a patch scaled so that the face is large enough."""

    def __init__(self, model: Path = YUNET):
        if not model.is_file():
            raise FileNotFoundError(f"no YuNet face detector at {model} (../shared/pretrained/yunet_n_640_640.onnx)")
        self.net = cv2.FaceDetectorYN.create(str(model), "", (320, 320), score_threshold=0.6, nms_threshold=0.3)

    def __call__(self, patch: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        scale = LANDMARK_SIDE / max(float(box[2] - box[0]), 1.0)
        big = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        self.net.setInputSize((big.shape[1], big.shape[0]))
        _, faces = self.net.detect(cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
        if faces is None:
            return None
        centre = (box[:2] + box[2:]) / 2 * scale
        nearest = faces[np.argmin(np.linalg.norm(faces[:, :2] + faces[:, 2:4] / 2 - centre, axis=1))]
        landmarks = nearest[4:14].reshape(5, 2) / scale
        inside = (landmarks >= box[:2]).all() and (landmarks <= box[2:]).all()
        return landmarks if inside else None


def pick_template(templates: list[Template], landmarks: np.ndarray, rng: np.random.Generator) -> Template:
    """A template facing the way the face turns, restyled or replaced by a drawn cloth mask half the time."""
    eyes = landmarks[:2]
    turn = (landmarks[2, 0] - eyes[:, 0].mean()) / max(float(abs(eyes[1, 0] - eyes[0, 0])), 2.0)
    side = "_left" if turn < -0.2 else "_right" if turn > 0.2 else ""
    frontal = ([t for t in templates if t.name.endswith(side)] if side else
               [t for t in templates if not t.name.endswith(("_left", "_right"))]) or templates
    roll = rng.random()
    if roll < 0.25 and not side:
        return drawn_cloth(rng)
    template = frontal[int(rng.integers(len(frontal)))]
    return restyle(template, rng) if roll < 0.5 else template


def add_synthetic_faces(table: FaceTable, min_side: float = 16.0, seed: int = 0, templates: list[Template] | None = None,
                        finder: Callable[[np.ndarray, np.ndarray], np.ndarray | None] | None = None) -> np.ndarray:
    """Append one synthetic masked face per unmasked face of `table` (with a found face); returns, per face of the
    table, the index of the image it was made from (-1 for real faces). `finder` gives a face's five landmarks
    (a `LandmarkFinder` unless given)."""
    rng = np.random.default_rng(seed)
    templates = templates or load_templates()
    finder = finder or LandmarkFinder()
    real = np.flatnonzero(table.labels == WITHOUT)
    made = []
    for i in real:
        box = table.boxes[i]
        if min(box[2] - box[0], box[3] - box[1]) < min_side:
            continue
        image = table.images[table.image_index[i]]
        x1, y1, x2, y2 = _patch_bounds(box, image.shape)
        patch, local = image[y1:y2, x1:x2], box - np.float32([x1, y1, x1, y1])
        landmarks = finder(patch, local)
        if landmarks is None:
            continue
        style = STYLES[rng.choice(len(STYLES), p=STYLE_SHARES)]
        points = worn(face_points(landmarks, local), landmarks, style, rng)
        masked, area = draw_mask(patch, pick_template(templates, landmarks, rng), points, rng)
        if not MASK_AREA[0] <= area / float(np.prod(local[2:] - local[:2])) <= MASK_AREA[1]:
            continue  # a warp gone wrong on landmarks YuNet misplaced
        made.append((i, masked, local, WITH if style == "correct" else INCORRECT, style))
    return _append(table, made)


def _patch_bounds(box: np.ndarray, shape: tuple) -> tuple[int, int, int, int]:
    w, h = box[2] - box[0], box[3] - box[1]
    x1, y1 = int(max(0, box[0] - PATCH_MARGIN * w)), int(max(0, box[1] - PATCH_MARGIN * h))
    return x1, y1, int(min(shape[1], box[2] + PATCH_MARGIN * w)), int(min(shape[0], box[3] + PATCH_MARGIN * h))


def _append(table: FaceTable, made: list) -> np.ndarray:
    source = np.full(len(table.labels) + len(made), -1, dtype=np.int64)
    for k, (i, patch, box, label, style) in enumerate(made):
        source[len(table.labels) + k] = table.image_index[i]
        table.images.append(patch)
        table.stems.append(f"{table.ids[i]}~{style}")
    if made:
        first = len(table.images) - len(made)
        table.image_index = np.concatenate([table.image_index, np.arange(first, len(table.images))])
        table.boxes = np.concatenate([table.boxes, np.float32([m[2] for m in made])])
        table.labels = np.concatenate([table.labels, np.int64([m[3] for m in made])])
        table.ids += [f"{table.ids[m[0]]}~{m[4]}" for m in made]
        table.datasets = np.concatenate([table.datasets, table.datasets[[m[0] for m in made]]])
    return source


def synthetic_for(table: FaceTable, source: np.ndarray, stems: list[str]) -> np.ndarray:
    """The synthetic faces made from the given images."""
    position = {s: i for i, s in enumerate(table.stems)}
    wanted = [position[s] for s in stems if s in position]
    return np.flatnonzero((source >= 0) & np.isin(source, wanted))


def main() -> None:
    from training.data import add_data_args, load_data

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--faces", type=int, default=48, help="examples on the sheet")
    parser.add_argument("--out", default="runs/synthetic_sheet.jpg")
    args = parser.parse_args()
    table = FaceTable.from_voc(load_data(parser, args))
    before = len(table.labels)
    source = add_synthetic_faces(table)
    made = np.flatnonzero(source >= 0)
    styles = [table.ids[i].split("~")[1] for i in made]
    print(f"{len(made)} synthetic faces from {int((table.labels[:before] == WITHOUT).sum())} unmasked faces:",
          {s: styles.count(s) for s in STYLES})
    pick = np.random.default_rng(1).choice(made, min(args.faces, len(made)), replace=False)
    crops = table.crops(pick, 96, 0.3)
    for crop, i in zip(crops, pick):
        cv2.putText(crop, table.ids[i].split("~")[1], (2, 92), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
    rows = [np.hstack(list(crops[r:r + 8])) for r in range(0, len(crops) - 7, 8)]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
