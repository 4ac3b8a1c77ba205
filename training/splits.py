"""Seeded, saved, reproducible splits: the paper's face-level split, an image-level split, and CV folds."""
import json
from pathlib import Path

import numpy as np

from models.labels import CLASSES
from training.voc import VOCImage

PARTS = ("train", "val", "test")
INCORRECT = CLASSES.index("mask_worn_incorrectly")
WITHOUT = CLASSES.index("without_mask")


def _cut(items: list, fractions: tuple[float, float, float]) -> list[list]:
    n_train = int(round(len(items) * fractions[0]))
    n_val = int(round(len(items) * fractions[1]))
    return [items[:n_train], items[n_train:n_train + n_val], items[n_train + n_val:]]


def face_ids(images: list[VOCImage]) -> list[str]:
    """Stable face identifiers, `<image stem>#<object index>`, in dataset order."""
    return [f"{im.stem}#{i}" for im in images for i in range(len(im.labels))]


def face_split(images: list[VOCImage], seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> dict[str, list[str]]:
    """The paper's split: faces (not images) 80/10/10, stratified by class."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([im.labels for im in images])
    ids = np.array(face_ids(images))
    split = {p: [] for p in PARTS}
    for c in range(len(CLASSES)):
        members = list(ids[labels == c])
        rng.shuffle(members)
        for part, chunk in zip(PARTS, _cut(members, fractions)):
            split[part] += chunk
    return {p: sorted(v) for p, v in split.items()}


def _strata(images: list[VOCImage]) -> dict[tuple[int, bool, bool], list[str]]:
    """Group image stems by (dataset, has an incorrectly-worn mask, has an unmasked face).

    Datasets are numbered in the order they come, so adding a second folder after the first leaves
    the first folder's parts and folds as they were."""
    order = {name: i for i, name in enumerate(dict.fromkeys(im.dataset for im in images))}
    groups: dict[tuple[int, bool, bool], list[str]] = {}
    for im in images:
        key = (order[im.dataset], bool((im.labels == INCORRECT).any()), bool((im.labels == WITHOUT).any()))
        groups.setdefault(key, []).append(im.stem)
    return dict(sorted(groups.items()))


def image_split(images: list[VOCImage], seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> dict[str, list[str]]:
    """Images 80/10/10, stratified so every part has incorrectly-worn masks; no image is in two parts."""
    rng = np.random.default_rng(seed)
    split = {p: [] for p in PARTS}
    for stems in _strata(images).values():
        stems = sorted(stems)
        rng.shuffle(stems)
        for part, chunk in zip(PARTS, _cut(stems, fractions)):
            split[part] += chunk
    return {p: sorted(v) for p, v in split.items()}


def image_folds(images: list[VOCImage], k: int = 5, seed: int = 0) -> list[list[str]]:
    """`k` disjoint groups of image stems, stratified like `image_split`, covering every image once."""
    rng = np.random.default_rng(seed)
    folds: list[list[str]] = [[] for _ in range(k)]
    offset = 0
    for stems in _strata(images).values():
        stems = sorted(stems)
        rng.shuffle(stems)
        for i, stem in enumerate(stems):
            folds[(i + offset) % k].append(stem)
        offset += len(stems)
    return [sorted(f) for f in folds]


def save_split(split: dict, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(split, indent=1) + "\n")


def load_split(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


SPLITS_DIR = Path(__file__).resolve().parent.parent / "splits"
SPLIT_FILES = {"face": SPLITS_DIR / "face_split.json", "image": SPLITS_DIR / "image_split.json"}
FOLDS_FILE = SPLITS_DIR / "image_folds.json"


def part_indices(table, kind: str, path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Face indices of a `FaceTable` for each part of the saved `face` or `image` split (or of the split file `path`)."""
    path = Path(path or SPLIT_FILES[kind])
    split = load_split(path)
    select = table.select_faces if kind == "face" else table.select_images
    parts = {part: select(split[part]) for part in PARTS}
    if any(len(idx) == 0 for idx in parts.values()):
        raise ValueError(f"the data has no face in some part of {path}: "
                         f"{ {p: len(i) for p, i in parts.items()} } (rebuild splits with training.make_splits?)")
    return parts


def thin_class(indices: np.ndarray, labels: np.ndarray, cls: int, fraction: float, seed: int = 0) -> np.ndarray:
    """`indices` with only a seeded `fraction` of its faces of class `cls` left (the others untouched, order kept):
    a learning curve for one class, measured by training on less of it."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    of_class = indices[labels[indices] == cls]
    n_keep = max(1, round(len(of_class) * fraction)) if len(of_class) else 0
    dropped = np.random.default_rng(seed).permutation(of_class)[n_keep:]
    return indices[~np.isin(indices, dropped)]


def thin_images(images: list[VOCImage], fraction: float, seed: int = 0) -> list[VOCImage]:
    """A seeded `fraction` of `images` (order kept), drawn within the strata of `image_split` so each dataset and the
    images with incorrectly-worn or unmasked faces keep their shares: a learning curve for the detector."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    keep = set(image_split(images, seed, (fraction, 0.0, 1.0 - fraction))["train"])
    return [im for im in images if im.stem in keep]
