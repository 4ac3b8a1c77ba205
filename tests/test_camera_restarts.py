"""Cameras across their server's and their stream's restarts: a killed RTSP server means `reconnecting`, then `up`,
and nobody counted twice; a restart resumes from the database; SIGTERM closes every stream. Each test runs servers
of its own.

Skipped where ffmpeg or the RTSP server's Debian packages are missing (.ci/run installs them)."""
import signal

from bench.streams import clips
from tests.conftest import free_port, maskwatch, wait_for
from tests.streams import add, camera, needs_ffmpeg, needs_rtsp, people, rtsp_server

pytestmark = needs_ffmpeg


@needs_rtsp
def test_killed_rtsp_server_reconnects_without_counting_twice(tmp_path, media):
    port = free_port()
    with maskwatch(tmp_path, MASKWATCH_CAMERA_TRACK_GAP_S="10") as (client, _, _):
        with rtsp_server(media["still"], port=port) as (url, _):
            add(client, id="door", url=url)
            before = wait_for(lambda: (s := camera(client, "door"))["people_in_view"] == 3 and s["frames_analysed"] >= 5 and s,
                              30, "the people were never tracked")
        state = wait_for(lambda: (s := camera(client, "door"))["status"] == "reconnecting" and s, 15, "never reconnecting")
        assert state["last_error"]
        with rtsp_server(media["still"], port=port):
            after = wait_for(lambda: (s := camera(client, "door"))["status"] == "up" and s["frames_analysed"] >= before["frames_analysed"] + 5 and s,
                             30, "never up again")
            assert after["reconnects"] > before["reconnects"] and after["people_in_view"] == 3
            assert client.patch("/v1/cameras/door", json={"enabled": False}).json()["status"] == "disabled"  # counts who is in view
        today = camera(client, "door")["today"]
        assert {k: today[k] for k in clips.STILL_PEOPLE} == clips.STILL_PEOPLE, today


@needs_rtsp
def test_restart_resumes_and_sigterm_closes_streams(tmp_path, media):
    with rtsp_server(media["h264"]) as (url, _):
        with maskwatch(tmp_path) as (client, log, proc):
            add(client, id="door", url=url)
            add(client, id="file", url=media["h264"].as_uri())
            wait_for(lambda: camera(client, "file")["status"] == "ended", 40, "the file never ended")
            wait_for(lambda: camera(client, "door")["status"] == "up", 20, "the RTSP camera never came up")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
            text = log.read_text()
            assert "closed 2 camera streams" in text and "Application shutdown complete" in text and "Traceback" not in text
        with maskwatch(tmp_path) as (client, _, _):
            resumed = {c["id"]: c for c in client.get("/v1/cameras").json()["cameras"]}
            assert sorted(resumed) == ["door", "file"] and resumed["door"]["source"] == "api"
            assert people(resumed["file"]) == clips.PEOPLE  # the counts survived the restart
            wait_for(lambda: camera(client, "door")["status"] == "up", 20, "the resumed camera never came up")
