"""What the camera tests against real streams share: GStreamer's RTSP server (one clip or several, each at a mount
of its own), the clips, encoded when first asked for, and small helpers over the camera API."""
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bench.streams import clips
from tests.conftest import ROOT, free_port

SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SERVER = ROOT / "bench" / "streams" / "rtsp_server.py"
PASSWORD = "s3cret-pw"


def rtsp_missing() -> str | None:
    if not Path(SYSTEM_PYTHON).exists():
        return "no system python3"
    check = subprocess.run([SYSTEM_PYTHON, str(RTSP_SERVER), "--check"], capture_output=True, text=True)
    return None if check.returncode == 0 else f"GStreamer's RTSP server is not installed: {check.stderr.strip()[-200:]}"


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
needs_rtsp = pytest.mark.skipif(bool(rtsp_missing()), reason=str(rtsp_missing()))
CLIPS = {"h264": lambda path: clips.people_clip(path), "h265": lambda path: clips.people_clip(path, "h265"),
         "still": lambda path: clips.still_clip(path), "group0": lambda path: clips.encode(clips.people_frames(groups=(0,)), path),
         "walk": lambda path: clips.encode(clips.walk_frames(), path), "hiding": lambda path: clips.encode(clips.hiding_frames(), path)}


class Media(dict):
    """The test clips by name, each encoded the first time a test asks for it (H.265 takes seconds)."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def __missing__(self, name: str) -> Path:
        self[name] = CLIPS[name](self.folder / f"{name}.mp4")
        return self[name]


@contextmanager
def rtsp_server(clip: Path | None, codec: str = "h264", port: int | None = None, user: str | None = None, mounts: dict | None = None):
    """GStreamer's RTSP server playing `clip` at /cam and each of `mounts` at /NAME; yields (the /cam URL, the process)."""
    port = port or free_port()
    args = [SYSTEM_PYTHON, str(RTSP_SERVER), "--port", str(port), "--codec", codec, *(["--file", str(clip)] if clip else [])]
    args += [f"--mount={name}={path}" for name, path in (mounts or {}).items()]
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
    return labels(state["today"])


def labels(counts: dict) -> dict:
    return {label: counts[label] for label in clips.PEOPLE}
