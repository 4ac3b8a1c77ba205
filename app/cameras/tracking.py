"""People, not frames: supervision's ByteTrack links each face from frame to frame, and each track gets one
label by a confidence-weighted vote over its frames (`uncertain` when no label has `vote_share` of the votes).
A person is counted once, when their track ends: not seen for `gap_s` seconds, or the camera stops."""
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

# faces start a track at this detection score or more (ByteTrack adds 0.1); weaker ones only extend a track
TRACK_START_SCORE = 0.4


@dataclass
class Person:
    track: int
    first_seen: float  # wall-clock seconds
    last_seen: float  # the clock `update` is given
    frames: int = 0
    votes: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def label(self, vote_share: float) -> str:
        top = max(self.votes, key=self.votes.get)
        return top if self.votes[top] >= vote_share * sum(self.votes.values()) else "uncertain"


class PeopleTracker:
    def __init__(self, fps: float, gap_s: float, min_frames: int = 2):
        # here, not above: supervision and the scipy and matplotlib it imports take 0.5 s, paid with the first camera
        import supervision as sv

        self.detections = sv.Detections
        self.gap_s, self.min_frames = gap_s, min_frames
        with warnings.catch_warnings():  # ByteTrack is deprecated in supervision 0.30, pinned for it (pyproject.toml)
            warnings.simplefilter("ignore")
            self.tracker = sv.ByteTrack(track_activation_threshold=TRACK_START_SCORE, frame_rate=30,
                                        lost_track_buffer=max(1, math.ceil(gap_s * fps)), minimum_consecutive_frames=1)
        self.people: dict[int, Person] = {}

    @property
    def in_view(self) -> int:
        return len(self.people)

    def update(self, faces: list, now: float, wall: float) -> list[Person]:
        """Feed one analysed frame's faces; returns the people whose track ended (seen in `min_frames` frames or more)."""
        if faces:
            detections = self.detections(xyxy=np.array([f.box for f in faces], dtype=np.float32),
                                       confidence=np.array([f.detection_score for f in faces], dtype=np.float32),
                                       data={"face": np.arange(len(faces))})
        else:
            detections = self.detections.empty()
        tracked = self.tracker.update_with_detections(detections)
        for track, index in zip(tracked.tracker_id, tracked.data.get("face", [])):
            face = faces[int(index)]
            person = self.people.setdefault(int(track), Person(int(track), wall, now))
            person.last_seen, person.frames = now, person.frames + 1
            person.votes[face.label] += face.confidence
        gone = [p for p in self.people.values() if now - p.last_seen > self.gap_s]
        return self._finish(gone)

    def finish_all(self) -> list[Person]:
        """End every open track (the camera stops or its stream was away too long): those people are counted now."""
        return self._finish(list(self.people.values()))

    def _finish(self, people: list[Person]) -> list[Person]:
        for person in people:
            del self.people[person.track]
        return [p for p in people if p.frames >= self.min_frames]
