"""Clips made from the fixture images: people (fixture faces) come into view, stay, and leave.

`people_frames` is a scene of two groups, one after the other, with empty frames before, between and after them, so a
tracker sees every person enter and leave; `PEOPLE` says who is in it. `still_frames` shows one group all
along. `walk_frames` walks group 0 right and back, so that one person crosses a line at x = 0.75 each way;
`hiding_frames` shows group 0 still, hidden now and then, as a poster whose detection drops out. `encode`
writes frames as H.264 or H.265 MP4 with the system ffmpeg."""
import subprocess
from pathlib import Path

import cv2
import numpy as np

VOC_IMAGES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "voc" / "images"
SIZE = (640, 360)
FPS = 10
# (fixture image, crop x1, y1, x2, y2): each group's faces are detected with scores of 0.59 or more
GROUPS = [("maksssksksss145", (0, 0, 400, 226)), ("maksssksksss1", (185, 20, 400, 115))]
# the people of people_frames, by label: image 145's three faces, then five with masks from image 1
PEOPLE = {"with_mask": 5, "without_mask": 1, "mask_worn_incorrectly": 2}
STILL_PEOPLE = {"with_mask": 0, "without_mask": 1, "mask_worn_incorrectly": 2}
# group 0's faces' centres lie at x = 0.23, 0.45 and 0.75 of people_frames' canvas: only the third, without a mask,
# is in the right half
RIGHT_HALF_PEOPLE = {"with_mask": 0, "without_mask": 1, "mask_worn_incorrectly": 0}
# walk_frames: group 0 at its own size, faces' centres from x = 0.31, 0.45, 0.66 of the frame to 140 px further right
# and back: only the third (without a mask) crosses x = 0.75, once each way
WALK_LINE_X = 0.75


def group_frame(index: int, shift: int, size: tuple[int, int] = SIZE, scale: float = 1.5) -> np.ndarray:
    """Group `index` at `scale` times its size on a grey canvas of `size`, `shift` pixels right of centre (for
    larger canvases the scene is scaled up with the canvas)."""
    name, (x1, y1, x2, y2) = GROUPS[index]
    patch = cv2.imread(str(VOC_IMAGES / f"{name}.png"))[y1:y2, x1:x2]
    patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
    h, w = patch.shape[:2]
    top, left = (SIZE[1] - h) // 2, (SIZE[0] - w) // 2 - 20 + shift
    canvas[top:top + h, left:left + w] = patch
    return canvas if size == SIZE else cv2.resize(canvas, size, interpolation=cv2.INTER_CUBIC)


def people_frames(seconds_each: float = 3.0, gap_s: float = 3.0, size: tuple[int, int] = SIZE, fps: float = FPS,
                  groups: tuple[int, ...] = (0, 1), lead_s: float = 2.0) -> list[np.ndarray]:
    """The groups one after the other (group 0 alone: three people, none wearing a mask properly), after `lead_s` of
    empty frames: a stream's first frames may come late, and nobody is missed for it."""
    empty = np.full((size[1], size[0], 3), 128, np.uint8)
    frames = [empty] * int(lead_s * fps)
    for index in groups:
        steps = int(seconds_each * fps)
        frames += [group_frame(index, round(i * 5 / fps), size) for i in range(steps)]  # walking 5 px a second
        frames += [empty] * int(gap_s * fps)
    return frames


def still_frames(seconds: float = 30.0, size: tuple[int, int] = SIZE, fps: float = FPS) -> list[np.ndarray]:
    return [group_frame(0, 0, size)] * int(seconds * fps)


def walk_frames(seconds: float = 6.0, distance: int = 140, fps: float = FPS) -> list[np.ndarray]:
    """Group 0 at its own size standing for 2 s (a stream's first frames come late), walking `distance` px right in
    `seconds`, standing for 2 s (a tracker loses a face that turns back at once), walking back, then gone for 3 s."""
    steps = int(seconds * fps)
    there = [group_frame(0, round(i * distance / steps), scale=1.0) for i in range(steps + 1)]
    empty = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
    return [there[0]] * int(2 * fps) + there + [there[-1]] * int(2 * fps) + there[::-1] + [empty] * int(3 * fps)


def hiding_frames(cycles: int = 4, shown_s: float = 3.0, hidden_s: float = 2.0, fps: float = FPS) -> list[np.ndarray]:
    """Group 0 still for `shown_s`, then hidden for `hidden_s`, `cycles` times."""
    empty = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
    return ([group_frame(0, 0)] * int(shown_s * fps) + [empty] * int(hidden_s * fps)) * cycles


def encode(frames: list[np.ndarray], path: Path, codec: str = "h264", fps: float = FPS) -> Path:
    """Write BGR frames as an MP4 with the system ffmpeg (a keyframe a second, as cameras send)."""
    encoder = {"h264": ["libx264", "-tune", "zerolatency"], "h265": ["libx265", "-tag:v", "hvc1", "-x265-params", "log-level=error"]}[codec]
    height, width = frames[0].shape[:2]
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
           "-r", str(fps), "-i", "-", "-c:v", encoder[0], *encoder[1:], "-g", str(round(fps)), "-pix_fmt", "yuv420p",
           "-crf", "18", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return path


def people_clip(path: Path, codec: str = "h264") -> Path:
    return encode(people_frames(), path, codec)


def still_clip(path: Path, seconds: float = 30.0, codec: str = "h264") -> Path:
    return encode(still_frames(seconds), path, codec)
