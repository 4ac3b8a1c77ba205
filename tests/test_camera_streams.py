"""Cameras against real streams: GStreamer's RTSP server (H.264 and H.265, TCP and UDP, with credentials), an
HTTP MJPEG camera, live HLS and a file, watched by one real server process. People counted must match the clip; a
stalled stream is reopened; credentials appear nowhere. Restarts are in test_camera_restarts.py, a site's zones,
lines, stationary faces and hours in test_site_streams.py.

Skipped where ffmpeg or the RTSP server's Debian packages are missing (.ci/run installs them)."""
import subprocess
import sys

import pytest

from bench.streams import clips
from bench.streams.mjpeg_server import MJPEGServer
from tests.conftest import free_port, maskwatch, wait_for
from tests.streams import PASSWORD, add, camera, needs_ffmpeg, needs_rtsp, people, rtsp_server

pytestmark = needs_ffmpeg


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
        assert f'maskwatch_camera_people_total{{camera="{name}",label="with_mask",zone=""}} 5.0' in metrics
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
