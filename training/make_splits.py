"""Write the saved splits: `python -m training.make_splits [--data DIR ...] [--seed 0] [--out splits]`.

The image split and the CV folds cover every folder given (each image in one part, one fold); the
face split is the paper's, over the first folder only. With `--out`, the same files for your own data, for
the training CLIs' `--split-file`.
"""
import argparse
from pathlib import Path

from training.data import add_data_args, load_data
from training.splits import FOLDS_FILE, SPLITS_DIR, face_split, image_folds, image_split, save_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=SPLITS_DIR, help="folder for the three split files (default: %(default)s)")
    args = parser.parse_args()
    images = load_data(parser, args)
    first = [im for im in images if im.dataset == images[0].dataset]
    files = {"face_split.json": face_split(first, args.seed), "image_split.json": image_split(images, args.seed),
             FOLDS_FILE.name: {"seed": args.seed, "folds": image_folds(images, 5, args.seed)}}
    for name, split in files.items():
        save_split(split, args.out / name)
        print("wrote", args.out / name)


if __name__ == "__main__":
    main()
