"""Find and classify the faces of an image from the command line.

    python -m models.classify IMAGE [--boxes '[[x1,y1,x2,y2], ...]'] [--annotate out.png] [--min-confidence 0.3] [--backend torch]

Prints one JSON object per face: box, label, confidence, per-class scores and detection score.
With --boxes, detection is skipped and exactly those boxes are classified. The defaults are the service's
(models/pipeline.py), so it finds the same faces as `POST /v1/classify`.
"""
import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from models.annotate import annotate
from models.backends import BACKENDS, BackendError
from models.defaults import MIN_CONFIDENCE
from models.face_pipeline import to_rgb
from models.loading import open_pipeline
from models.plan import resolve_plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", type=Path)
    parser.add_argument("--boxes", help="JSON list of [x1, y1, x2, y2] boxes in pixels")
    parser.add_argument("--min-confidence", type=float, default=MIN_CONFIDENCE, help="minimum detection score (default: the service's)")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="auto", help="what runs the networks (default: the service's, auto)")
    parser.add_argument("--annotate", type=Path, help="also write the image with coloured boxes here (PNG)")
    args = parser.parse_args()
    decoded = cv2.imread(str(args.image), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        print(f"error: cannot read an image from {args.image}", file=sys.stderr)
        return 2
    if decoded.ndim == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA if decoded.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    try:
        boxes = np.array(json.loads(args.boxes), dtype=np.float64).reshape(-1, 4) if args.boxes else None
    except ValueError as err:
        print(f"error: --boxes must be a JSON list of [x1, y1, x2, y2]: {err}", file=sys.stderr)
        return 2
    try:
        pipeline = open_pipeline(resolve_plan("auto", args.backend))
    except BackendError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    faces = pipeline(decoded, boxes, args.min_confidence)
    for face in faces:
        print(json.dumps(asdict(face)))
    if args.annotate:
        cv2.imwrite(str(args.annotate), annotate(to_rgb(decoded), faces))
    return 0


if __name__ == "__main__":
    sys.exit(main())
