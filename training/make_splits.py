"""Write the saved splits: `python -m training.make_splits [--data DIR] [--seed 0]`."""
import argparse

from training.data import DEFAULT_DATA
from training.splits import FOLDS_FILE, SPLIT_FILES, face_split, image_folds, image_split, save_split
from training.voc import read_voc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_DATA, help="VOC folder (images/ + annotations/)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images = read_voc(args.data)
    save_split(face_split(images, args.seed), SPLIT_FILES["face"])
    save_split(image_split(images, args.seed), SPLIT_FILES["image"])
    save_split({"seed": args.seed, "folds": image_folds(images, 5, args.seed)}, FOLDS_FILE)
    for path in (*SPLIT_FILES.values(), FOLDS_FILE):
        print("wrote", path)


if __name__ == "__main__":
    main()
