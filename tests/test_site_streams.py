"""A site, not a stream, against real streams: four cameras at once on one RTSP server, one clip each, watched by a
real server process. An ignore zone over half the frame leaves exactly the people in the other half; a face
walking across a line is counted in, and back out; a still face hidden now and then is counted once and listed
stationary; a camera outside its hours counts and alerts nothing, while the same alert rule fires on an open one.

Skipped where ffmpeg or the RTSP server's Debian packages are missing (.ci/run installs them)."""
import json
from datetime import datetime, timezone

import pytest

from bench.streams import clips
from tests.conftest import WebhookReceiver, free_port, maskwatch, wait_for
from tests.streams import add, camera, labels, needs_ffmpeg, needs_rtsp, people, rtsp_server

pytestmark = needs_ffmpeg


@pytest.fixture(scope="module")
def hook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, hook):
    with maskwatch(tmp_path_factory.mktemp("server"), MASKWATCH_CAMERA_STATIONARY_S="10", MASKWATCH_ALERT_WEBHOOK=hook.url,
                   MASKWATCH_ALERT_EVAL_S="0.5") as running:
        yield running


def other_weekday() -> str:
    return ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[(datetime.now(timezone.utc).weekday() + 3) % 7]


@needs_rtsp
def test_a_site_ignore_zone_line_stationary_face_and_hours(server, media, hook):
    client, _, _ = server
    mounts = {name: media[name] for name in ("group0", "walk", "hiding")}
    with rtsp_server(None, mounts=mounts) as (url, _):
        base = url.rsplit("/", 1)[0]
        half = {"name": "street", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], "ignore": True}
        add(client, id="site-zone", url=f"{base}/group0", zones=[half, {"name": "shop", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}])
        add(client, id="site-line", url=f"{base}/walk", lines=[{"name": "door", "from": [clips.WALK_LINE_X, 0], "to": [clips.WALK_LINE_X, 1]}])
        add(client, id="site-still", url=f"{base}/hiding")
        down = [{"rule": "camera_down", "after_s": 1}, {"rule": "low_compliance", "below": 0.9, "window_minutes": 1, "min_people": 1}]
        add(client, id="site-closed", url=f"{base}/group0", hours=f"{other_weekday()} 00:00-24:00", alerts=down)
        add(client, id="site-down", url=f"rtsp://127.0.0.1:{free_port()}/nothing", alerts=down[:1])  # the same rule, open: it fires
        # each clip ends once everyone has left, and the reader starts it again: count the first showing
        zone = wait_for(lambda: (s := camera(client, "site-zone"))["reconnects"] >= 1 and s, 40, "the zone clip never ended")
        assert people(zone) == clips.RIGHT_HALF_PEOPLE and zone["zones"]["shop"]["people"] == 1, zone
        line = wait_for(lambda: (s := camera(client, "site-line"))["reconnects"] >= 1 and s, 40, "the walk never ended")
        assert {d: labels(line["lines"]["door"][d]) for d in ("in", "out")} == {"in": clips.RIGHT_HALF_PEOPLE, "out": clips.RIGHT_HALF_PEOPLE}, line
        assert 'maskwatch_camera_line_crossings_total{camera="site-line",direction="in",label="without_mask",line="door"} 1.0' in \
            client.get("/metrics").text
        still = wait_for(lambda: (s := camera(client, "site-still"))["reconnects"] >= 1 and s, 60, "the hiding clip never ended")
        assert people(still) == clips.STILL_PEOPLE and len(still["stationary"]) == 3, still  # each face once, however often hidden
        closed = camera(client, "site-closed")
        assert closed["status"] == "closed" and closed["frames_analysed"] == 0 and closed["today"]["people"] == 0
        alerted = {json.loads(body)["camera"] for body, _ in hook.posts}
        assert "site-down" in alerted and "site-closed" not in alerted
        for name in ("site-zone", "site-line", "site-still", "site-closed", "site-down"):
            client.delete(f"/v1/cameras/{name}")
