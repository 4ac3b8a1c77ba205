"""The camera parts that need no stream: URL checks and redaction, the cameras file, the store, the vote, the
batcher's background lane, and the camera API's errors (API keys, read-only file cameras, bad input)."""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.batching import MicroBatcher
from app.cameras.config import CameraURLError, check_url, read_cameras_file, redact, scrub
from app.cameras.store import Counted
from app.cameras.tracking import PeopleTracker
from app.main import create_app
from app.settings import Settings
from models.face_pipeline import Face
from tests.conftest import wait_for


@pytest.mark.parametrize("url, why", [
    ("ftp://host/x", "not a stream scheme"), ("rtsp://", "no host"), ("not a url", "not a stream scheme"),
    ("rtsp://host:port/x", "not a valid URL"), ("file:///tmp/x.mp4", "MASKWATCH_CAMERA_ALLOW_LOCAL"),
    ("device:///dev/video0", "MASKWATCH_CAMERA_ALLOW_LOCAL"),
])
def test_check_url_refuses(url, why):
    with pytest.raises(CameraURLError, match=why):
        check_url(url, allow_local=False, hosts=[])


def test_check_url_local_sources_and_host_list():
    check_url("file:///tmp/x.mp4", allow_local=True, hosts=[])
    check_url("rtsp://u:p@10.1.2.3:554/s", allow_local=False, hosts=["10.1.0.0/16"])
    check_url("http://cam.shop/video.mjpg", allow_local=False, hosts=["cam.shop"])
    with pytest.raises(CameraURLError, match="not in MASKWATCH_CAMERA_HOSTS"):
        check_url("rtsp://192.168.0.9/s", allow_local=False, hosts=["10.1.0.0/16", "cam.shop"])
    with pytest.raises(CameraURLError, match="a path"):
        check_url("file://", allow_local=True, hosts=[])


def test_redact_and_scrub_remove_credentials():
    assert redact("rtsp://admin:hunter2@10.0.0.5:554/live") == "rtsp://***@10.0.0.5:554/live"
    assert redact("http://cam/video.cgi?user=admin&pwd=hunter2&res=hd") == "http://cam/video.cgi?user=***&pwd=***&res=hd"
    assert redact("rtsp://10.0.0.5/live") == "rtsp://10.0.0.5/live"
    error = "401 Unauthorized: 'rtsp://admin:hunter2@10.0.0.5:554/live' (also rtsp://x:y@other/)"
    cleaned = scrub(error, "rtsp://admin:hunter2@10.0.0.5:554/live")
    assert "hunter2" not in cleaned and "x:y" not in cleaned and "10.0.0.5" in cleaned


def test_cameras_file_yaml_toml_and_errors(tmp_path):
    yaml_file = tmp_path / "cameras.yaml"
    yaml_file.write_text("cameras:\n  - {id: door, url: 'rtsp://10.0.0.5/live', fps: 2}\n  - {id: till, url: 'http://10.0.0.6/v.mjpg'}\n")
    assert [(c.id, c.fps) for c in read_cameras_file(yaml_file)] == [("door", 2.0), ("till", 2.0)]
    toml_file = tmp_path / "cameras.toml"
    toml_file.write_text('[[cameras]]\nid = "door"\nurl = "rtsp://10.0.0.5/live"\ntransport = "udp"\n')
    assert read_cameras_file(toml_file)[0].transport == "udp"
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras:\n  - {id: door, url: 'rtsp://h/x', fps: 0}\n")
    with pytest.raises(ValueError, match=r"cameras\[0\]\.fps"):
        read_cameras_file(bad)
    bad.write_text("cameras:\n  - {id: door, url: 'rtsp://h/x'}\n  - {id: door, url: 'rtsp://h/y'}\n")
    with pytest.raises(ValueError, match="repeat"):
        read_cameras_file(bad)
    bad.write_text("cameras: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        read_cameras_file(bad)


def face(x: float, label: str, confidence: float) -> Face:
    return Face([x, 50, x + 40, 100], label, confidence, {}, 0.8)


def test_tracker_counts_a_person_once_with_a_weighted_vote():
    tracker = PeopleTracker(fps=2, gap_s=1.0)
    ended = []
    labels = ["with_mask", "with_mask", "mask_worn_incorrectly", "with_mask"] * 15  # 30 s in view, one misread in four
    for i, label in enumerate(labels):
        ended += tracker.update([face(100 + i * 0.5, label, 0.9)], now=i * 0.5, wall=1000 + i * 0.5)
    assert ended == [] and tracker.in_view == 1
    ended += tracker.update([], now=40, wall=1040)  # gone for longer than the gap
    assert len(ended) == 1 and ended[0].label(0.6) == "with_mask" and ended[0].frames == 60 and tracker.in_view == 0


def test_tracker_split_vote_is_uncertain_and_one_frame_is_no_person():
    tracker = PeopleTracker(fps=2, gap_s=1.0)
    for i, label in enumerate(["with_mask", "without_mask"] * 3):
        tracker.update([face(100, label, 0.8), face(400, "without_mask", 0.9) if i == 0 else face(700, "with_mask", 0.9)], i * 0.5, i * 0.5)
    ended = tracker.finish_all()
    labels = sorted(p.label(0.6) for p in ended)
    assert labels == ["uncertain", "with_mask"]  # the face at 400 was seen once: not a person


def test_batcher_takes_uploads_before_camera_frames():
    order = []

    async def scenario():
        executor = ThreadPoolExecutor(1)
        batcher = MicroBatcher(lambda items: order.extend(items) or items, executor, 1, 0, 16)
        batcher.start()
        waits = [batcher.submit(f"camera{i}", background=True) for i in range(3)] + [batcher.submit(f"upload{i}") for i in range(3)]
        await asyncio.gather(*waits)
        await batcher.stop()
        executor.shutdown()

    asyncio.run(scenario())
    # the first camera frame may already be running when the uploads arrive; every upload goes before the rest
    assert order[order.index("upload0"):order.index("upload0") + 3] == ["upload0", "upload1", "upload2"]
    assert order.index("upload2") < order.index("camera1")


@pytest.fixture
def camera_client(tmp_path, store_settings):
    """A service with one camera from a file, on each database."""
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text("cameras:\n  - {id: door, url: 'rtsp://127.0.0.1:9/nothing', fps: 1}\n")
    app = create_app(Settings(api_keys=["k"], cameras_file=cameras, **store_settings), load_models=False)
    with TestClient(app) as client:
        yield client


def test_camera_routes_need_a_key_and_file_cameras_are_read_only(camera_client):
    assert camera_client.get("/v1/cameras").status_code == 401
    key = {"X-API-Key": "k"}
    listed = camera_client.get("/v1/cameras", headers=key).json()["cameras"]
    assert [(c["id"], c["source"], c["read_only"]) for c in listed] == [("door", "file", True)]
    for response in (camera_client.patch("/v1/cameras/door", json={"fps": 2}, headers=key), camera_client.delete("/v1/cameras/door", headers=key)):
        assert response.status_code == 409 and response.json()["error"]["code"] == "read_only"
    assert camera_client.get("/v1/cameras/nope", headers=key).status_code == 404
    assert camera_client.get("/v1/cameras/door/snapshot", headers=key).json()["error"]["code"] == "no_frame"


def test_camera_input_errors_are_422_naming_the_field(camera_client):
    key = {"X-API-Key": "k"}
    cases = [({"id": "a", "url": "ftp://h/x"}, "url"), ({"id": "a", "url": "rtsp://"}, "url"), ({"id": "a b", "url": "rtsp://h/x"}, "id"),
             ({"id": "a", "url": "rtsp://h/x", "fps": 0}, "fps"), ({"id": "a", "url": "rtsp://h/x", "colour": 1}, "colour")]
    for body, field in cases:
        response = camera_client.post("/v1/cameras", json=body, headers=key)
        assert response.status_code == 422, body
        assert field in response.json()["error"]["message"], response.json()
    assert camera_client.get("/v1/cameras", headers=key).json()["cameras"][0]["id"] == "door"  # nothing half-added
    assert camera_client.get("/v1/cameras/door/stats?bucket=5x", headers=key).status_code == 422
    assert camera_client.get("/v1/cameras/door/stats?since=yesterday", headers=key).status_code == 422
    assert camera_client.get("/v1/cameras/door/stats?bucket=1m&since=0", headers=key).status_code == 422  # too many buckets


def test_camera_stats_buckets(camera_client):
    key = {"X-API-Key": "k"}
    store = camera_client.app.state.cameras.store
    now_minute = int(time.time() // 60)
    store.add_people([Counted("door", str(i), now_minute - 5, label) for i, label in enumerate(("with_mask", "with_mask", "without_mask", "uncertain"))])
    body = camera_client.get(f"/v1/cameras/door/stats?since={(now_minute - 10) * 60}&bucket=5m", headers=key).json()
    assert body["total"] == {"with_mask": 2, "without_mask": 1, "mask_worn_incorrectly": 0, "uncertain": 1, "people": 4, "compliance": 0.6667}
    assert sum(b["people"] for b in body["series"]) == 4 and len(body["series"]) == 3
    assert camera_client.get("/v1/cameras/door", headers=key).json()["today"]["people"] == 4


def test_an_unwritable_database_leaves_the_photo_api_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    app = create_app(Settings(cameras_db=blocker / "sub" / "c.db"), load_models=False)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/v1/cameras")
        assert response.status_code == 503 and "MASKWATCH_CAMERAS_DB" in response.json()["error"]["message"]


def test_a_bad_cameras_file_stops_the_start(tmp_path):
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text("cameras:\n  - {id: door, url: 'ftp://h/x'}\n")
    with pytest.raises(ValueError, match="camera 'door': url"):
        create_app(Settings(cameras_file=cameras), load_models=False)


def test_a_missing_device_is_accepted_and_unreachable(tmp_path):
    app = create_app(Settings(camera_allow_local=True, cameras_db=tmp_path / "c.db", camera_backoff_max_s=1), load_models=False)
    with TestClient(app) as client:
        response = client.post("/v1/cameras", json={"id": "usb", "url": "device:///dev/video-none"})
        assert response.status_code == 201 and response.json()["source"] == "api"
        deadline = time.monotonic() + 10
        while (state := client.get("/v1/cameras/usb").json())["status"] != "unreachable" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state["status"] == "unreachable" and state["last_error"]


def test_snapshot_blurs_faces_unless_asked(camera_client):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)  # noise: a blurred box loses its contrast
    camera_client.app.state.cameras.watchers["door"].snapshot = (rgb, [face(40, "with_mask", 0.9)])
    key = {"X-API-Key": "k"}
    images = {}
    for query in ("", "?blur=false"):
        response = camera_client.get(f"/v1/cameras/door/snapshot{query}", headers=key)
        assert response.headers["content-type"] == "image/png"
        images[query] = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    inside = (slice(60, 90), slice(50, 70))  # well inside the box [40, 50, 80, 100], away from the drawn edges
    assert images[""][inside].std() < 0.3 * images["?blur=false"][inside].std()


def test_a_replica_with_cameras_off_answers_from_the_database(tmp_path):
    db = tmp_path / "c.db"
    watching = create_app(Settings(cameras_db=db, replica_name="watcher", heartbeat_s=0.2), load_models=False)
    api_only = create_app(Settings(cameras_enabled=False, cameras_db=db, replica_name="api", heartbeat_s=0.2), load_models=False)
    with TestClient(watching) as one, TestClient(api_only) as two:
        assert one.post("/v1/cameras", json={"id": "door", "url": "rtsp://127.0.0.1:9/x"}).status_code == 201
        state = two.get("/v1/cameras/door").json()  # added elsewhere: read from the database
        assert state["id"] == "door" and state["watched_by"] == "watcher" and state["status"] != "unwatched"
        wait_for(lambda: [c["id"] for c in two.get("/v1/cameras").json()["cameras"]] == ["door"], 5, "the list never had the camera")
        assert two.delete("/v1/cameras/door").status_code == 204
        wait_for(lambda: "door" not in one.app.state.cameras.watchers, 5, "the watching replica never let the deleted camera go")
        assert one.get("/v1/cameras/door").status_code == 404


def test_a_deleted_cameras_series_go_with_its_zones_and_lines_and_no_other_cameras():
    from app import metrics

    metrics.CAMERA_PEOPLE.labels(camera="gone", label="with_mask", zone="door").inc()
    metrics.CAMERA_CROSSINGS.labels(camera="gone", line="entrance", direction="in", label="with_mask").inc()
    metrics.CAMERA_UP.labels(camera="gone").set(1)
    metrics.CAMERA_UP.labels(camera="kept").set(1)
    metrics.forget_camera("gone")
    metrics.forget_camera("never-added")
    text = metrics.exposition().decode()
    assert 'camera="gone"' not in text and 'maskwatch_camera_up{camera="kept"} 1.0' in text


def test_a_camera_no_replica_watches_is_unwatched(tmp_path):
    with TestClient(create_app(Settings(cameras_enabled=False, cameras_db=tmp_path / "c.db"), load_models=False)) as client:
        state = client.post("/v1/cameras", json={"id": "x", "url": "rtsp://127.0.0.1:9/x"}).json()
        assert state["status"] == "unwatched" and state["watched_by"] is None and state["frames_analysed"] == 0
