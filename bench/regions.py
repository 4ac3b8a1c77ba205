"""What zones and lines add to a camera frame's analysis: a benchmark run, not a test.

    python -m bench.regions [--repeats 5] [--out research/results/bench/cameras_regions]

The served pipeline finds the faces of the people clip's frames once (bench/streams/clips.py); then the tracker
(ByteTrack, votes, stationary faces) takes every frame's faces, with no zones or lines and with bench.cameras'
SITE (5 zones, 2 lines), alternated `--repeats` times. Reports the tracker's milliseconds per frame each way, and
the pipeline's own per frame beside them. Writes tracker_cost.json under --out.
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import cv2

from app.cameras.tracking import PeopleTracker
from app.cameras.zones import Line, Zone
from bench import machine
from bench.cameras import SITE
from bench.streams import clips
from models.loading import open_pipeline
from models.plan import resolve_plan


def tracker_ms(frames: list[list], zones: list[Zone], lines: list[Line], size: tuple[int, int]) -> float:
    """Milliseconds per frame for one tracker over every frame's faces (5 fps, as the cameras benchmark)."""
    tracker = PeopleTracker(5, 3.0, 2, zones, lines)
    start = time.perf_counter()
    for i, faces in enumerate(frames):
        tracker.update(faces, i * 0.2, i * 0.2, size)
    tracker.finish_all()
    return (time.perf_counter() - start) * 1000 / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="research/results/bench/cameras_regions")
    args = parser.parse_args()
    pipeline = open_pipeline(resolve_plan(model_copies=1))
    images = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in clips.people_frames(size=(1280, 720), lead_s=0)[::2]]
    start = time.perf_counter()
    frames = [pipeline(rgb) for rgb in images]
    pipeline_ms = (time.perf_counter() - start) * 1000 / len(images)
    zones, lines = [Zone(**z) for z in SITE["zones"]], [Line(**x) for x in SITE["lines"]]
    runs = {"none": [], "site": []}
    for _ in range(args.repeats):
        runs["none"].append(tracker_ms(frames, [], [], (1280, 720)))
        runs["site"].append(tracker_ms(frames, zones, lines, (1280, 720)))
    report = {"machine": machine.describe("cpu"), "frames": len(frames), "faces": sum(map(len, frames)),
              "pipeline_ms_per_frame": round(pipeline_ms, 2),
              **{f"tracker_ms_per_frame_{k}": [round(v, 3) for v in vs] for k, vs in runs.items()},
              "added_ms_per_frame_median": round(statistics.median(runs["site"]) - statistics.median(runs["none"]), 3)}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "tracker_cost.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
