"""All faces of a VOC dataset in memory, cropped on demand (with optional box jitter for augmentation)."""
from dataclasses import dataclass, field

import numpy as np

from models.crops import crop_faces
from training.voc import VOCImage


@dataclass
class FaceTable:
    """Faces in dataset order: which image each comes from, its box, label and id (`stem#index`)."""

    images: list[np.ndarray]
    image_index: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    ids: list[str]
    stems: list[str]
    fixed_crops: dict[tuple[int, float], np.ndarray] = field(default_factory=dict)
    datasets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))  # each face's folder name

    @classmethod
    def from_voc(cls, voc: list[VOCImage], load_images: bool = True) -> "FaceTable":
        """Every face of `voc`; without `load_images` a table of annotations that can count and split but not crop."""
        images = [im.load_rgb() for im in voc] if load_images else []
        image_index = np.concatenate([np.full(len(im.labels), i) for i, im in enumerate(voc)]).astype(np.int64)
        boxes = np.concatenate([im.boxes for im in voc]).astype(np.float32)
        labels = np.concatenate([im.labels for im in voc]).astype(np.int64)
        ids = [f"{im.stem}#{j}" for im in voc for j in range(len(im.labels))]
        datasets = np.array([im.dataset for im in voc for _ in range(len(im.labels))], dtype=str)
        return cls(images, image_index, boxes, labels, ids, [im.stem for im in voc], datasets=datasets)

    def export_crops(self, path: str, size: int, margin: float) -> None:
        """Save every face's crop at one size and margin, to train without the images (e.g. on a lent GPU)."""
        crops = self.crops(np.arange(len(self.labels)), size, margin)
        face_stems = np.array([self.stems[i] for i in self.image_index])
        np.savez_compressed(path, crops=crops, labels=self.labels, ids=np.array(self.ids), face_stems=face_stems,
                            size=size, margin=margin)

    @classmethod
    def from_crops(cls, path: str) -> "FaceTable":
        """A table made by `export_crops`: it answers `crops` at that size and margin only, without jitter."""
        blob = np.load(path)
        stems = sorted(set(blob["face_stems"].tolist()))
        image_index = np.array([stems.index(s) for s in blob["face_stems"].tolist()], dtype=np.int64)
        key = (int(blob["size"]), float(blob["margin"]))
        return cls([], image_index, np.zeros((len(image_index), 4), np.float32), blob["labels"].astype(np.int64),
                   blob["ids"].tolist(), stems, {key: blob["crops"]})

    def select_faces(self, face_ids: list[str]) -> np.ndarray:
        """Indices of the given face ids that this table holds (a split may name faces of other datasets)."""
        position = {fid: i for i, fid in enumerate(self.ids)}
        return np.array([position[f] for f in face_ids if f in position], dtype=np.int64)

    def select_images(self, stems: list[str]) -> np.ndarray:
        """Indices of every face that belongs to one of the given images that this table holds."""
        position = {s: i for i, s in enumerate(self.stems)}
        wanted = [position[s] for s in stems if s in position]
        return np.flatnonzero(np.isin(self.image_index, wanted))

    def crops(self, indices: np.ndarray, size: int, margin: float, jitter: float = 0.0,
              rng: np.random.Generator | None = None, top_cut: float = 0.0) -> np.ndarray:
        """uint8 crops (N, size, size, 3); `jitter` moves and rescales each box by up to that fraction, and
        `top_cut` drops up to that share of the top of half the boxes."""
        if (size, margin) in self.fixed_crops and jitter == 0 and top_cut == 0:
            return self.fixed_crops[(size, margin)][indices]
        if not self.images:
            raise ValueError(f"this face table holds only crops at {list(self.fixed_crops)}, not size {size} margin {margin}")
        out = np.zeros((len(indices), size, size, 3), dtype=np.uint8)
        boxes = self.boxes[indices].copy()
        if jitter > 0:
            rng = rng or np.random.default_rng()
            wh = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
            centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + rng.uniform(-jitter, jitter, (len(boxes), 2)) * wh
            wh = wh * rng.uniform(1 - jitter, 1 + jitter, (len(boxes), 1))
            boxes = np.concatenate([centre - wh / 2, centre + wh / 2], axis=1)
        if top_cut > 0:
            # other detectors draw faces from the eyes down: the label must not hang on where the box starts
            rng = rng or np.random.default_rng()
            cut = rng.uniform(0, top_cut, len(boxes)) * (rng.random(len(boxes)) < 0.5)
            boxes[:, 1] += cut * (boxes[:, 3] - boxes[:, 1])
        for img_idx in np.unique(self.image_index[indices]):
            rows = np.flatnonzero(self.image_index[indices] == img_idx)
            out[rows] = crop_faces(self.images[img_idx], boxes[rows], size, margin)
        return out
