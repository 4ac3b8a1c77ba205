"""Cameras against real streams: GStreamer's RTSP server (H.264 and H.265, TCP and UDP, with credentials), an
HTTP MJPEG camera, live HLS and a file, watched by a real server process. People counted must match the clip;
a killed RTSP server means `reconnecting`, then `up`, and nobody counted twice; a stalled stream is reopened;
a restart resumes from the database; SIGTERM closes every stream; credentials appear nowhere.

Skipped where ffmpeg or the RTSP server's Debian packages are missing (.ci/run installs them)."""
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bench.streams import clips
from bench.streams.mjpeg_server import MJPEGServer
from tests.conftest import ROOT, free_port, maskwatch, wait_for

SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SERVER = ROOT / "bench" / "streams" / "rtsp_server.py"
PASSWORD = "s3cret-pw"


def rtsp_missing() -> str | None:
    if not Path(SYSTEM_PYTHON).exists():
        return "no system python3"
    check = subprocess.run([SYSTEM_PYTHON, str(RTSP_SERVER), "--check"], capture_output=True, text=True)
    return None if check.returncode == 0 else f"GStreamer's RTSP server is not installed: {check.stderr.strip()[-200:]}"


pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
needs_rtsp = pytest.mark.skipif(bool(rtsp_missing()), reason=str(rtsp_missing()))


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {"h264": clips.people_clip(folder / "people264.mp4"), "h265": clips.people_clip(folder / "people265.mp4", "h265"),
            "still": clips.still_clip(folder / "still.mp4")}


@contextmanager
def rtsp_server(clip: Path, codec: str = "h264", port: int | None = None, user: str | None = None):
    port = port or free_port()
    args = [SYSTEM_PYTHON, str(RTSP_SERVER), "--port", str(port), "--file", str(clip), "--codec", codec]
    if user:
        args += ["--user", user, "--password", PASSWORD]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield f"rtsp://{f'{user}:{PASSWORD}@' if user else ''}127.0.0.1:{port}/cam", proc
    finally:
        proc.kill()
        proc.wait()


def camera(client: httpx.Client, name: str) -> dict:
    return client.get(f"/v1/cameras/{name}").json()


def add(client: httpx.Client, **spec) -> dict:
    response = client.post("/v1/cameras", json={"fps": 5, **spec})
    assert response.status_code == 201, response.text
    return response.json()


def people(state: dict) -> dict:
    return {label: state["today"][label] for label in clips.PEOPLE}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with maskwatch(tmp_path_factory.mktemp("server")) as running:
        yield running


@needs_rtsp
@pytest.mark.parametrize("codec, transport", [("h264", "tcp"), ("h265", "udp")])
def test_rtsp_people_counted_once_each(server, media, codec, transport):
    client, log, _ = server
    name = f"rtsp-{codec}-{transport}"
    with rtsp_server(media[codec], codec, user="viewer") as (url, _):
        add(client, id=name, url=url, transport=transport)
        # the clip ends once everyone has left, and the reader starts it again: count the first showing
        state = wait_for(lambda: (s := camera(client, name))["reconnects"] >= 1 and s, 40, "the clip never ended")
        assert people(state) == clips.PEOPLE, state
        assert state["today"]["uncertain"] == 0 and state["frames_analysed"] > 20
        assert state["url"] == "rtsp://***@127.0.0.1:" + url.rsplit(":", 1)[1]
        metrics = client.get("/metrics").text
        assert f'maskwatch_camera_people_total{{camera="{name}",label="with_mask"}} 5.0' in metrics
        assert client.get(f"/v1/cameras/{name}/snapshot").headers["content-type"] == "image/png"
        assert client.delete(f"/v1/cameras/{name}").status_code == 204
        assert PASSWORD not in client.get("/v1/cameras").text + metrics + log.read_text()


@needs_rtsp
def test_wrong_password_is_reported_without_the_password(server, media):
    client, log, _ = server
    with rtsp_server(media["h264"], user="viewer") as (url, _):
        add(client, id="wrong-pw", url=url.replace(PASSWORD, "guess-" + PASSWORD))
        state = wait_for(lambda: (s := camera(client, "wrong-pw"))["last_error"] and s, 20, "no error reported")
        assert state["status"] == "unreachable" and "401" in state["last_error"]
        client.delete("/v1/cameras/wrong-pw")
    assert PASSWORD not in log.read_text() + state["last_error"]


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


def test_mjpeg_camera_counts_people(server):
    client, _, _ = server
    mjpeg = MJPEGServer(clips.people_frames(), clips.FPS)
    try:
        add(client, id="mjpeg", url=mjpeg.url)
        state = wait_for(lambda: (s := camera(client, "mjpeg"))["today"]["people"] >= 8 and s, 40, "people never counted")
        assert people(state) == clips.PEOPLE, state
    finally:
        client.delete("/v1/cameras/mjpeg")
        mjpeg.close()


def test_stalled_stream_is_reopened(server):
    client, _, _ = server
    mjpeg = MJPEGServer(clips.people_frames(), clips.FPS, stall_after=15)
    try:
        add(client, id="stall", url=mjpeg.url)
        state = wait_for(lambda: (s := camera(client, "stall"))["reconnects"] >= 2 and s, 30, "a stalled stream was not reopened")
        assert state["last_error"] == "stalled: no frame for 1.5 s" and state["frames_read"] >= 30
    finally:
        client.delete("/v1/cameras/stall")
        mjpeg.close()


def test_file_source_and_unreachable_camera(server, media):
    client, _, _ = server
    add(client, id="unreachable", url=f"rtsp://127.0.0.1:{free_port()}/nothing")
    add(client, id="file", url=media["h264"].as_uri())
    state = wait_for(lambda: (s := camera(client, "file"))["status"] == "ended" and s, 40, "the file never ended")
    assert people(state) == clips.PEOPLE
    other = camera(client, "unreachable")
    assert other["status"] == "unreachable" and "refused" in other["last_error"] and other["reconnects"] >= 2
    assert client.get("/readyz").status_code == 200  # one camera's failure is nobody else's
    for name in ("file", "unreachable"):
        client.delete(f"/v1/cameras/{name}")


def test_live_hls(server, media, tmp_path):
    client, _, _ = server
    hls = tmp_path / "hls"
    hls.mkdir()
    encoder = subprocess.Popen(["ffmpeg", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(media["still"]), "-c", "copy",
                                "-f", "hls", "-hls_time", "1", "-hls_list_size", "4", "-hls_flags", "delete_segments", str(hls / "live.m3u8")])
    web = subprocess.Popen([sys.executable, "-m", "http.server", str(port := free_port()), "--bind", "127.0.0.1", "-d", str(hls)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (hls / "live.m3u8").exists() and len(list(hls.glob("*.ts"))) >= 2, 20, "ffmpeg wrote no playlist")
        add(client, id="hls", url=f"http://127.0.0.1:{port}/live.m3u8")
        state = wait_for(lambda: (s := camera(client, "hls"))["people_in_view"] == 3 and s, 40, "nobody seen over HLS")
        assert state["status"] == "up"
    finally:
        client.delete("/v1/cameras/hls")
        encoder.kill()
        web.kill()


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
