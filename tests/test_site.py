"""A site, not a stream, without a stream: zones and ignore areas, lines, stationary faces, opening hours and the
site's days (a daylight-saving change included), and the camera API's checks of them. The same against real
streams is in tests/test_camera_streams.py."""
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from app.cameras.hours import day_starts, is_open, parse_hours, today_start
from app.cameras.store import Counted
from app.cameras.tracking import PeopleTracker
from app.cameras.zones import Line, Zone, main_zone
from app.main import create_app
from app.settings import Settings
from models.face_pipeline import Face

SIZE = (1000, 500)
LEFT_HALF = {"name": "street", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], "ignore": True}


def face(x: float, label: str = "with_mask", y: float = 200) -> Face:
    return Face([x, y, x + 40, y + 50], label, 0.9, {}, 0.8)


def run(tracker: PeopleTracker, frames: list[list[Face]], start: float = 0.0, step: float = 0.5) -> list:
    """Feed frames `step` seconds apart, then end every track; the people counted."""
    ended = []
    for i, faces in enumerate(frames):
        ended += tracker.update(faces, start + i * step, 1000 + start + i * step, SIZE)
    return ended + tracker.finish_all()


def test_faces_in_an_ignore_zone_are_neither_tracked_nor_counted():
    tracker = PeopleTracker(fps=2, gap_s=1.0, zones=[Zone(**LEFT_HALF)])
    people = run(tracker, [[face(100 + i, "without_mask"), face(700 + i)] for i in range(10)])
    assert [p.label(0.6) for p in people] == ["with_mask"]


def test_a_person_through_two_zones_belongs_to_the_one_seen_most_the_first_listed_on_a_tie():
    zones = [Zone(name="door", polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]), Zone(name="till", polygon=[[0.5, 0], [1, 0], [1, 1], [0.5, 1]])]
    tracker = PeopleTracker(fps=2, gap_s=1.0, zones=zones)
    walk = [[face(430 + 10 * i)] for i in range(10)]  # centres 450..540: six frames at the door (500 is in both), four at the till
    (person,) = run(tracker, walk)
    assert person.zone_frames == {"door": 6, "till": 4}
    assert main_zone(person.zone_frames, zones) == "door"
    assert main_zone({"till": 5, "door": 5}, zones) == "door" and main_zone({}, zones) is None


def test_a_line_counts_in_one_way_and_out_the_other():
    line = Line(**{"name": "entrance", "from": [0.5, 0], "to": [0.5, 1]})  # drawn top to bottom: left to right is in
    tracker = PeopleTracker(fps=2, gap_s=1.0, lines=[line])
    there = [[face(400 + 8 * i)] for i in range(21)]  # centre 420 -> 580
    (person,) = run(tracker, there + there[::-1])
    assert person.crossings == [("entrance", "in"), ("entrance", "out")]


def test_a_still_face_that_keeps_dropping_out_is_counted_once_and_listed_stationary():
    tracker = PeopleTracker(fps=2, gap_s=1.0, stationary_s=60, forget_s=300)
    counted = []
    for cycle in range(10):  # 20 s shown, 5 s gone: 250 s in all
        start = cycle * 25
        for i in range(40):
            counted += tracker.update([face(600 + (i % 3))], start + i * 0.5, start + i * 0.5, SIZE)
        counted += tracker.update([], start + 25, start + 25, SIZE)
    assert len(counted) == 1
    (spot,) = tracker.stationary()
    assert spot["box"] == [0.6, 0.4, 0.64, 0.5]
    for i in range(130):  # back in view for longer than stationary_s: still one stationary face
        tracker.update([face(600)], 260 + i * 0.5, 260 + i * 0.5, SIZE)
    assert tracker.in_view == 1 and len(tracker.stationary()) == 1


def test_someone_standing_still_for_ten_minutes_is_one_person_and_people_who_move_are_not_stationary():
    tracker = PeopleTracker(fps=2, gap_s=3.0, stationary_s=120)
    counted = run(tracker, [[face(500)]] * 1200)  # 10 minutes at 2 fps
    assert len(counted) == 1
    walkers = PeopleTracker(fps=2, gap_s=1.0, stationary_s=1)
    walk = [[face(100 + 10 * i)] for i in range(20)]
    counted = run(walkers, walk) + run(walkers, walk, start=100)
    assert len(counted) == 2 and walkers.stationary() == []  # the same walk again is another person


def test_opening_hours_syntax():
    week = parse_hours("Mon-Fri 08:00-20:00; Sat 09:00-12:00,13:00-18:00; Sun-Mon 22:00-24:00")
    zone = ZoneInfo("Europe/Berlin")
    assert is_open(week, datetime(2026, 12, 7, 8, 0, tzinfo=zone))  # a Monday
    assert not is_open(week, datetime(2026, 12, 7, 7, 59, tzinfo=zone))
    assert is_open(week, datetime(2026, 12, 7, 23, 30, tzinfo=zone))  # Sun-Mon 22:00-24:00
    assert not is_open(week, datetime(2026, 12, 12, 12, 30, tzinfo=zone)) and is_open(week, datetime(2026, 12, 12, 13, 0, tzinfo=zone))
    assert not is_open(week, datetime(2026, 12, 10, 21, 0, tzinfo=zone))  # Thursday night
    assert is_open(None, datetime(2026, 12, 10, 3, 0, tzinfo=zone))
    for bad in ("Mon 08:00", "Funday 08:00-09:00", "Mon 20:00-08:00", "Mon 08:00-24:30", "", "Mon-Fri 8-20"):
        with pytest.raises(ValueError):
            parse_hours(bad)


def test_days_start_at_local_midnight_across_daylight_saving_changes():
    zone = ZoneInfo("Europe/Berlin")
    spring = day_starts(zone, datetime(2026, 3, 28, 12, tzinfo=zone).timestamp(), datetime(2026, 3, 30, 12, tzinfo=zone).timestamp(), 1)
    assert [b - a for a, b in zip(spring, spring[1:])] == [86400, 23 * 3600, 86400]  # 29 March has 23 hours
    autumn = day_starts(zone, datetime(2026, 10, 25, 1, tzinfo=zone).timestamp(), datetime(2026, 10, 25, 23, tzinfo=zone).timestamp(), 1)
    assert autumn[1] - autumn[0] == 25 * 3600
    assert all(datetime.fromtimestamp(s, zone).hour == 0 for s in spring + autumn)
    assert today_start(zone, datetime(2026, 3, 29, 23, 30, tzinfo=zone).timestamp()) == spring[1]


@pytest.fixture
def client(store_settings):
    """A service with keys, in Berlin, on each database."""
    app = create_app(Settings(api_keys=["k"], timezone="Europe/Berlin", **store_settings), load_models=False)
    with TestClient(app, headers={"X-API-Key": "k"}) as client:
        yield client


DOOR = {"id": "door", "url": "rtsp://127.0.0.1:9/nothing", "fps": 1, "enabled": False,
        "zones": [{"name": "in", "polygon": [[0, 0], [1, 0], [1, 1]]}, LEFT_HALF],
        "lines": [{"name": "entrance", "from": [0.5, 0], "to": [0.5, 1]}], "hours": "Mon-Sun 00:00-24:00"}
BAD = [({"zones": [{"name": "a", "polygon": [[0, 0], [1, 0]]}]}, "zones.0.polygon"),
       ({"zones": [{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1.2]]}]}, "zones.0.polygon"),
       ({"zones": [{"name": "a", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}]}, "zones.0.polygon"),
       ({"zones": [{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]]}] * 2}, "zones"),
       ({"lines": [{"name": "x", "from": [0.2, 0.2], "to": [0.2, 0.2]}]}, "lines.0"),
       ({"lines": [{"name": "x", "from": [0.2, 0.2], "to": [2, 0.2]}]}, "lines.0.to"),
       ({"lines": [{"name": "x", "from": [0, 0], "to": [1, 1]}] * 2}, "lines"),
       ({"hours": "Mon 20:00-08:00"}, "hours"), ({"hours": "weekdays"}, "hours")]


def test_bad_zones_lines_and_hours_are_422_naming_the_field_and_nothing_is_half_saved(client):
    assert client.post("/v1/cameras", json=DOOR).status_code == 201
    for body, field in BAD:
        for response in (client.post("/v1/cameras", json={**DOOR, "id": "other", **body}), client.patch("/v1/cameras/door", json=body)):
            assert response.status_code == 422, (body, response.text)
            assert field in response.json()["error"]["message"], (field, response.json())
    cameras = client.get("/v1/cameras").json()["cameras"]
    zones = [Zone(**z).model_dump(mode="json") for z in DOOR["zones"]]
    assert [c["id"] for c in cameras] == ["door"] and cameras[0]["regions"]["zones"] == zones
    assert cameras[0]["regions"]["lines"] == [Line(**x).model_dump(mode="json", by_alias=True) for x in DOOR["lines"]] and cameras[0]["hours"] == DOOR["hours"]
    assert client.app.state.cameras.store.cameras()[0]["zones"] == zones


def test_zone_counts_stats_by_zone_and_local_days(client):
    assert client.post("/v1/cameras", json=DOOR).status_code == 201
    store, minute = client.app.state.cameras.store, int(time.time() // 60)
    store.add_people([Counted("door", "a", minute, "with_mask", "in", (("entrance", "in"),)), Counted("door", "b", minute, "without_mask")])
    state = client.get("/v1/cameras/door").json()
    assert state["today"]["people"] == 2 and state["zones"] == {"in": {"with_mask": 1, "without_mask": 0, "mask_worn_incorrectly": 0,
                                                                       "uncertain": 0, "people": 1, "compliance": 1.0}}
    assert state["lines"]["entrance"]["in"]["with_mask"] == 1 and state["lines"]["entrance"]["out"]["people"] == 0
    stats = client.get("/v1/cameras/door/stats", params={"zone": "in", "bucket": "1d", "since": time.time() - 3 * 86400}).json()
    assert stats["total"]["people"] == 1 and stats["zone"] == "in" and len(stats["series"]) in (4, 5)
    assert all(datetime.fromisoformat(b["start"]).astimezone(ZoneInfo("Europe/Berlin")).hour == 0 for b in stats["series"])
    assert stats["lines"]["entrance"]["in"]["people"] == 1
    for zone in ("street", "nowhere"):  # an ignore zone counts nobody
        response = client.get("/v1/cameras/door/stats", params={"zone": zone})
        assert response.status_code == 422 and "zone" in response.json()["error"]["message"]
    patched = client.patch("/v1/cameras/door", json={"hours": "", "zones": []}).json()
    assert patched["hours"] is None and patched["zones"] == {} and patched["regions"]["lines"][0]["from"] == [0.5, 0]
