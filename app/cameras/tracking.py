"""People, not frames: supervision's ByteTrack links each face from frame to frame, and each track gets one
label by a confidence-weighted vote over its frames (`uncertain` when no label has `vote_share` of the votes).
A person is counted once, when their track ends: not seen for `gap_s` seconds, or the camera stops.

Faces in an ignore zone are dropped before tracking; each track remembers the zones it was seen in and the
lines it crossed (app/cameras/zones.py). A face that does not move (a poster, a screen, a mannequin, someone
standing at a till) is one person however often its detection drops out and comes back: a still track that ends
where another still track ended less than `forget_s` ago is the same face, not counted again. A still face seen
for `stationary_s` or longer is listed as stationary, so that an operator can draw an ignore zone over it."""
import math
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from app.cameras.zones import Line, Regions, Zone
from app.compliance import person_label

# faces start a track at this detection score or more (ByteTrack adds 0.1); weaker ones only extend a track
TRACK_START_SCORE = 0.4
STILL_SHIFT = 0.25  # a still face's centre stays within this share of its box's width of where it was first seen
SAME_PLACE_IOU = 0.5  # a still face back where one ended overlaps its box at least this much


@dataclass
class Person:
    track: int
    first_seen: float  # wall-clock seconds
    last_seen: float  # the clock `update` is given
    box: np.ndarray  # where the face was first seen, pixels
    frames: int = 0
    started: float = 0.0  # the clock `update` is given, at the first frame
    still: bool = True
    votes: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    zone_frames: Counter = field(default_factory=Counter)
    crossings: list[tuple[str, str]] = field(default_factory=list)  # (line, "in" or "out"), in order

    def label(self, vote_share: float) -> str:
        return person_label(self.votes, vote_share)

    def see(self, box: np.ndarray) -> None:
        shift = np.abs((box[:2] + box[2:]) / 2 - (self.box[:2] + self.box[2:]) / 2).max()
        self.still = self.still and shift <= STILL_SHIFT * max(1.0, self.box[2] - self.box[0])


@dataclass
class Spot:
    """Where a still face was: its box, and when it was first and last seen (the tracker's clock)."""
    box: np.ndarray
    first: float
    last: float


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class PeopleTracker:
    def __init__(self, fps: float, gap_s: float, min_frames: int = 2, zones: list[Zone] = (), lines: list[Line] = (),
                 stationary_s: float = 120.0, forget_s: float = 300.0):
        # here, not above: supervision and the scipy and matplotlib it imports take 0.5 s, paid with the first camera
        import supervision as sv

        self.detections = sv.Detections
        self.gap_s, self.min_frames = gap_s, min_frames
        self.stationary_s, self.forget_s = stationary_s, forget_s
        self.regions = Regions(list(zones), list(lines))
        with warnings.catch_warnings():  # ByteTrack is deprecated in supervision 0.30, pinned for it (pyproject.toml)
            warnings.simplefilter("ignore")
            self.tracker = sv.ByteTrack(track_activation_threshold=TRACK_START_SCORE, frame_rate=30,
                                        lost_track_buffer=max(1, math.ceil(gap_s * fps)), minimum_consecutive_frames=1)
        self.people: dict[int, Person] = {}
        self.spots: list[Spot] = []
        self.size = (1, 1)

    @property
    def in_view(self) -> int:
        return len(self.people)

    def update(self, faces: list, now: float, wall: float, size: tuple[int, int] = (1, 1)) -> list[Person]:
        """Feed one analysed frame's faces (`size`: its width and height); returns the people to count now: those
        whose track ended, seen in `min_frames` frames or more, and not a still face seen before."""
        self.size = size
        detections = self._detections(faces)
        if len(detections):
            detections = detections[~self.regions.ignored(detections, *size)]
        tracked = self.tracker.update_with_detections(detections)
        if len(tracked):  # zones and lines see where each face was, not where the tracker's filter put it
            tracked.xyxy = np.array([faces[int(i)].box for i in tracked.data["face"]], dtype=np.float32)
        zones = self.regions.zones_of(tracked) if len(tracked) else []
        for i, (track, index) in enumerate(zip(tracked.tracker_id, tracked.data.get("face", []))):
            face = faces[int(index)]
            person = self.people.setdefault(int(track), Person(int(track), wall, now, np.array(face.box, dtype=np.float64), started=now))
            person.see(np.array(face.box, dtype=np.float64))
            person.last_seen, person.frames = now, person.frames + 1
            person.votes[face.label] += face.confidence
            if zones[i]:
                person.zone_frames[zones[i]] += 1
        if len(tracked):
            for i, line, direction in self.regions.crossings(tracked):
                self.people[int(tracked.tracker_id[i])].crossings.append((line, direction))
        gone = [p for p in self.people.values() if now - p.last_seen > self.gap_s]
        return self._finish(gone, now)

    def _detections(self, faces: list):
        if not faces:
            return self.detections.empty()
        return self.detections(xyxy=np.array([f.box for f in faces], dtype=np.float32),
                               confidence=np.array([f.detection_score for f in faces], dtype=np.float32),
                               data={"face": np.arange(len(faces))})

    def finish_all(self, now: float | None = None) -> list[Person]:
        """End every open track (the camera stops or its stream was away too long): those people are counted now."""
        people = list(self.people.values())
        return self._finish(people, max((p.last_seen for p in people), default=0.0) if now is None else now)

    def _finish(self, people: list[Person], now: float) -> list[Person]:
        for person in people:
            del self.people[person.track]
        self.spots = [s for s in self.spots if now - s.last <= self.forget_s]
        return [p for p in people if p.frames >= self.min_frames and not self._seen_before(p)]

    def _seen_before(self, person: Person) -> bool:
        """Whether `person` is a still face where one was seen lately (then the spot is extended, not counted)."""
        if not person.still:
            return False
        for spot in self.spots:
            if iou(spot.box, person.box) >= SAME_PLACE_IOU:
                spot.last = person.last_seen
                return True
        self.spots.append(Spot(person.box, person.started, person.last_seen))
        return False

    def stationary(self) -> list[dict]:
        """Still faces seen for `stationary_s` or longer, boxes in fractions of the frame (as zones take them)."""
        width, height = self.size
        still = [p for p in self.people.values() if p.still]
        boxes = [s.box for s in self.spots  # a spot's face may be back in view now
                 if max([s.last] + [p.last_seen for p in still if iou(p.box, s.box) >= SAME_PLACE_IOU]) - s.first >= self.stationary_s]
        boxes += [p.box for p in still if p.last_seen - p.started >= self.stationary_s
                  and not any(iou(p.box, s.box) >= SAME_PLACE_IOU for s in self.spots)]
        return [{"box": [round(float(v), 4) for v in box / np.array([width, height, width, height])]} for box in boxes]
