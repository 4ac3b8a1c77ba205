"""Where on a camera's frame people count: zones (polygons, counted or ignored) and lines (crossed in or out), each
in fractions of the frame (0 to 1), so they survive a change of stream resolution.

A face belongs to a zone when the centre of its box lies inside the polygon. Faces in an `ignore` zone are neither
tracked nor counted (a street through the glass, a poster); snapshots still blur them. A person who walks through
several zones belongs to the one their face was in for the most analysed frames (a tie: the zone listed first);
a person seen in no counted zone counts only in the camera's total. A line counts a tracked person `in` when
their face's centre crosses to the line's left, seen from `from` towards `to` in the image (y down): for a line
drawn from top to bottom, moving left to right is `in`. supervision's PolygonZone and LineZone do the geometry."""
from collections import Counter

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Point = tuple[float, float]


def _check_point(point: Point) -> Point:
    if not all(0 <= v <= 1 for v in point):
        raise ValueError(f"coordinates are fractions of the frame, 0 to 1: got {list(point)}")
    return point


def _crosses(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether segments ab and cd cross at a point inside both (touching ends do not count)."""
    def side(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0


class Zone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="letters, digits, '.', '_', '-'; at most 64")
    polygon: list[Point] = Field(min_length=3, max_length=64, description="[[x, y], ...] in fractions of the frame, 0 to 1")
    ignore: bool = Field(False, description="faces here are neither tracked nor counted (still blurred in snapshots)")

    @field_validator("polygon")
    @classmethod
    def simple_polygon(cls, polygon: list[Point]) -> list[Point]:
        for point in polygon:
            _check_point(point)
        edges = list(zip(polygon, polygon[1:] + polygon[:1]))
        for i, (a, b) in enumerate(edges):
            for c, d in edges[i + 2:]:
                if _crosses(a, b, c, d):
                    raise ValueError("the polygon crosses itself: list its points in order round its edge")
        if abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in edges)) < 1e-9:
            raise ValueError("the polygon encloses no area")
        return polygon


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=NAME, description="letters, digits, '.', '_', '-'; at most 64")
    start: Point = Field(alias="from", description="[x, y] in fractions of the frame, 0 to 1")
    end: Point = Field(alias="to", description="[x, y]; `in` is crossing to the line's left, seen from `from` towards `to`")

    @field_validator("start", "end")
    @classmethod
    def in_frame(cls, point: Point) -> Point:
        return _check_point(point)

    @model_validator(mode="after")
    def has_length(self) -> "Line":
        if self.start == self.end:
            raise ValueError("from and to are the same point")
        return self


def check_names(items: list[Zone] | list[Line], field: str) -> None:
    """Raise ValueError naming `field` when two of `items` share a name."""
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        raise ValueError(f"{field}: names repeat: {sorted({n for n in names if names.count(n) > 1})}")


class Regions:
    """One camera's zones and lines in a frame's pixels, rebuilt when the frame size changes."""

    def __init__(self, zones: list[Zone], lines: list[Line]):
        self.zones, self.lines = zones, lines
        self.size: tuple[int, int] | None = None

    def _build(self, width: int, height: int) -> None:
        import supervision as sv  # here: with the first camera, as the tracker

        scale = np.array([width, height], dtype=np.float64)
        self.polygons = [sv.PolygonZone(np.rint(np.array(z.polygon) * scale).astype(np.int64), triggering_anchors=(sv.Position.CENTER,))
                         for z in self.zones]
        self.line_zones = [sv.LineZone(sv.Point(*(np.array(line.start) * scale)), sv.Point(*(np.array(line.end) * scale)),
                                       triggering_anchors=(sv.Position.CENTER,)) for line in self.lines]
        self.size = (width, height)

    def inside(self, detections) -> np.ndarray:
        """zones x detections: whether each detection's centre lies in each zone. The centres are looked up in the
        zones' masks (PolygonZone's rasterised polygons) once per frame: a fifth of the time of a trigger per zone."""
        centres = np.rint((detections.xyxy[:, :2] + detections.xyxy[:, 2:]) / 2).astype(np.int64)
        inside = np.zeros((len(self.zones), len(centres)), dtype=bool)
        for row, polygon in zip(inside, self.polygons):
            height, width = polygon.mask.shape  # the polygon's extent, not the frame's
            x, y = centres[:, 0], centres[:, 1]
            on = (x >= 0) & (y >= 0) & (x < width) & (y < height)
            row[on] = polygon.mask[y[on], x[on]] > 0
        return inside

    def ignored(self, detections, width: int, height: int) -> np.ndarray:
        """Which detections lie in an ignore zone."""
        if self.size != (width, height):
            self._build(width, height)
        inside = self.inside(detections)
        return inside[[z.ignore for z in self.zones]].any(0) if self.zones else np.zeros(len(detections), dtype=bool)

    def zones_of(self, tracked) -> list[str | None]:
        """The counted zone each tracked detection is in (the first listed, where zones overlap), or None."""
        inside = self.inside(tracked)
        counted = [i for i, zone in enumerate(self.zones) if not zone.ignore]
        return [next((self.zones[z].name for z in counted if inside[z, d]), None) for d in range(len(tracked))]

    def crossings(self, tracked) -> list[tuple[int, str, str]]:
        """(detection index, line, "in" or "out") for each line a tracked detection crossed with this frame."""
        found = []
        for line, line_zone in zip(self.lines, self.line_zones):
            crossed_in, crossed_out = line_zone.trigger(tracked)
            found += [(int(i), line.name, "in") for i in np.flatnonzero(crossed_in)]
            found += [(int(i), line.name, "out") for i in np.flatnonzero(crossed_out)]
        return found


def main_zone(frames: Counter, zones: list[Zone]) -> str | None:
    """The zone a person belongs to: the one they were seen in for the most frames, the first listed on a tie."""
    if not frames:
        return None
    order = {zone.name: i for i, zone in enumerate(zones)}
    return max(frames, key=lambda name: (frames[name], -order.get(name, len(order))))
