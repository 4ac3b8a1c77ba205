"""One reader thread per stream: it decodes everything the stream sends, so no backlog builds, and keeps only
the newest frame. It opens the stream with PyAV (FFmpeg: RTSP over TCP or UDP, HTTP MJPEG, HLS, files, V4L2
devices), reopens it with exponential backoff and jitter when it is lost, and when no frame comes for
`stall_s` seconds. Its status and last error say what is happening; credentials never appear in them."""
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import av

from app.cameras.config import redact, scrub

log = logging.getLogger("maskwatch")
BACKOFF_START_S = 0.5
DECODE_NICENESS = 10  # decoding yields the CPU to uploads: this thread, and the decoder threads it starts, run nicer


@dataclass
class Frame:
    image: av.VideoFrame
    arrived: float  # time.monotonic() when decoded
    seq: int


class StreamReader:
    """Reads `url` in a thread of its own until `stop`. Status: connecting, up, reconnecting (it was up),
    unreachable (never opened yet), ended (a file that does not loop), stopped."""

    def __init__(self, camera: str, url: str, transport: str = "tcp", loop: bool = False, stall_s: float = 10.0,
                 open_timeout_s: float = 10.0, backoff_max_s: float = 30.0):
        self.camera, self.url, self.transport, self.loop = camera, url, transport, loop
        self.stall_s, self.open_timeout_s, self.backoff_max_s = stall_s, open_timeout_s, backoff_max_s
        self.status = "connecting"
        self.last_error: str | None = None  # kept once the stream is back: the last thing that went wrong
        self.last_error_at: float | None = None
        self.frames_read = 0
        self.reconnects = 0
        self.latest: Frame | None = None
        self.width = self.height = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{camera}", daemon=True)

    @property
    def is_file(self) -> bool:
        return urlsplit(self.url).scheme == "file"

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to close its stream and end (a blocked read or open ends at its timeout)."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> None:
        """`request_stop`, then wait up to `timeout` for the thread."""
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.status = "stopped"

    def _open(self) -> av.container.InputContainer:
        parts = urlsplit(self.url)
        if parts.scheme == "file":
            return av.open(unquote(parts.path))
        if parts.scheme == "device":
            return av.open(unquote(parts.path), format="v4l2", timeout=(self.open_timeout_s, self.stall_s))
        options = {"rtsp_transport": self.transport} if parts.scheme.startswith("rtsp") else {"reconnect": "0"}
        return av.open(self.url, options=options, timeout=(self.open_timeout_s, self.stall_s))

    def _run(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICENESS)  # this thread only, on Linux
        except OSError:
            pass
        failures = 0
        while not self._stop.is_set():
            frames_before = self.frames_read
            try:
                if not self._read_until_end():
                    return  # stop was asked
                if self.is_file and not self.loop:
                    self.status = "ended"
                    return
                if self.is_file:
                    continue  # a looping file starts again at once
                self.last_error = "the stream ended"
            except av.ExitError:  # PyAV's timeout interrupted a read or the open
                self.last_error = (f"stalled: no frame for {self.stall_s:g} s" if self.frames_read > frames_before
                                   else f"timed out opening the stream ({self.open_timeout_s:g} s)")
            except (av.FFmpegError, OSError, ValueError, StopIteration) as err:
                self.last_error = scrub(f"{type(err).__name__}: {err}", self.url)
            if self._stop.is_set():
                return
            self.last_error_at = time.time()
            failures = 0 if self.frames_read > frames_before else failures  # a stream that was up starts its backoff again
            self.status = "reconnecting" if self.frames_read else "unreachable"
            delay = min(self.backoff_max_s, BACKOFF_START_S * 2 ** failures) * random.uniform(0.5, 1.0)
            failures += 1
            self.reconnects += 1
            log.warning("camera %s (%s): %s; reopening in %.1f s", self.camera, redact(self.url), self.last_error, delay)
            self._stop.wait(delay)

    def _read_until_end(self) -> bool:
        """Decode frames until the stream ends (True) or stop is asked (False); errors propagate."""
        container = self._open()
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            start, first_pts = time.monotonic(), None
            for frame in container.decode(stream):
                if self._stop.is_set():
                    return False
                if self.is_file and frame.time is not None:  # a file plays at its own pace, as a camera would
                    first_pts = frame.time if first_pts is None else first_pts
                    wait = start + (frame.time - first_pts) - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        return False
                self.frames_read += 1
                self.latest = Frame(frame, time.monotonic(), self.frames_read)
                self.width, self.height = frame.width, frame.height
                if self.status != "up":
                    self.status = "up"
                    log.info("camera %s (%s): up, %dx%d", self.camera, redact(self.url), frame.width, frame.height)
            return True
        finally:
            container.close()
