import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import synthetic_images
from training.crossval import fold_indices
from training.faces import FaceTable
from training.splits import face_ids, face_split, image_folds, image_split, thin_class, thin_images


def test_face_split_is_stratified_deterministic_and_complete():
    images = synthetic_images(200)
    split = face_split(images, seed=3)
    assert split == face_split(images, seed=3)
    assert split != face_split(images, seed=4)
    ids = face_ids(images)
    assert sorted(sum(split.values(), [])) == sorted(ids)
    label_of = dict(zip(ids, np.concatenate([im.labels for im in images]).tolist()))
    for c in range(3):
        total = sum(label_of[f] == c for f in ids)
        n_train = sum(label_of[f] == c for f in split["train"])
        assert abs(n_train - 0.8 * total) <= 1
        assert sum(label_of[f] == c for f in split["test"]) >= int(0.1 * total) - 1


def test_image_split_keeps_images_whole_and_spreads_incorrect_masks():
    images = synthetic_images(200)
    split = image_split(images, seed=0)
    assert split == image_split(images, seed=0)
    parts = [set(split[p]) for p in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set().union(*parts) == {im.stem for im in images}
    with_incorrect = {im.stem for im in images if (im.labels == 2).any()}
    assert all(part & with_incorrect for part in parts)
    assert abs(len(parts[0]) - 160) <= 3


def test_folds_cover_every_image_once():
    images = synthetic_images(103)
    folds = image_folds(images, k=5, seed=1)
    flat = sum(folds, [])
    assert len(flat) == len(set(flat)) == 103
    assert max(map(len, folds)) - min(map(len, folds)) <= 1


def test_thin_class_drops_only_the_chosen_class_and_is_seeded():
    labels = np.array([0, 2, 1, 2, 2, 0, 2, 1, 2, 2, 2, 2])
    indices = np.arange(len(labels))
    half = thin_class(indices, labels, 2, 0.5, seed=3)
    assert (labels[half] == 2).sum() == 4 and (labels[half] != 2).sum() == 4
    assert np.all(np.diff(half) > 0)
    assert np.array_equal(half, thin_class(indices, labels, 2, 0.5, seed=3))
    assert not np.array_equal(half, thin_class(indices, labels, 2, 0.5, seed=4))
    assert np.array_equal(thin_class(indices, labels, 2, 1.0), indices)


def test_thin_images_keeps_each_datasets_share_and_is_seeded():
    first = synthetic_images(120, seed=1)
    second = [dataclasses.replace(im, image_path=Path(f"other{i}.png"), dataset="other") for i, im in enumerate(synthetic_images(40, seed=2))]
    images = first + second
    half = thin_images(images, 0.5, seed=3)
    assert sum(im.dataset == "other" for im in half) == 20 and abs(len(half) - 80) <= 3
    assert [im.stem for im in half] == [im.stem for im in images if im in half]  # order kept
    assert half == thin_images(images, 0.5, seed=3) and half != thin_images(images, 0.5, seed=4)
    assert len(thin_images(images, 0.5, seed=4)) == len(half)  # each stratum keeps a rounded share, whatever the seed
    assert thin_images(images, 1.0) == images
    with pytest.raises(ValueError, match="fraction must be in"):
        thin_images(images, 0.0)


def test_a_thinned_fold_loses_rare_training_faces_only():
    images = synthetic_images(200)
    table = FaceTable.from_voc(images, load_images=False)
    test_stems = image_folds(images, k=5)[0]
    full = fold_indices(table, images, test_stems, 0)
    thinned = fold_indices(table, images, test_stems, 0, rare_fraction=0.5)
    rare = lambda idx: int((table.labels[idx] == 2).sum())  # noqa: E731
    assert rare(full[0]) >= 4 and rare(thinned[0]) == round(rare(full[0]) / 2)
    assert len(full[0]) - len(thinned[0]) == rare(full[0]) - rare(thinned[0])
    assert np.array_equal(full[1], thinned[1]) and np.array_equal(full[2], thinned[2])
    assert not set(table.image_index[full[0]]) & set(table.image_index[full[2]])


def test_a_second_dataset_leaves_the_first_datasets_parts_and_folds_as_they_were():
    first = synthetic_images(120, seed=1)
    second = [dataclasses.replace(im, image_path=Path(f"other{i}.png"), dataset="other") for i, im in enumerate(synthetic_images(80, seed=2))]
    for im in first:
        im.dataset = "first"
    alone, both = image_split(first), image_split(first + second)
    own = {im.stem for im in first}
    assert all([s for s in both[p] if s in own] == alone[p] for p in alone)
    assert any(s.startswith("other") for s in both["test"])
    folds_alone, folds_both = image_folds(first), image_folds(first + second)
    assert [[s for s in f if s in own] for f in folds_both] == folds_alone
    assert sorted(sum(folds_both, [])) == sorted(im.stem for im in first + second)
