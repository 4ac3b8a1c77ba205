"""One camera's loop: at its `fps`, take the reader's newest frame (skipping it if it was already seen), run
it through the service's models behind the uploads, track the people in it, and count each person once when
their track ends, in their zone and with the lines they crossed. A tick that comes while the previous frame is
still being analysed is a dropped frame. Outside the camera's opening hours its stream is closed and nothing is
analysed or alerted: its status is `closed`."""
import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import numpy as np

from app import metrics
from app.cameras.config import CameraSpec
from app.cameras.count_buffer import CountBuffer
from app.cameras.hours import is_open, parse_hours
from app.cameras.reader import Frame, StreamReader
from app.cameras.store import Counted
from app.cameras.tracking import PeopleTracker, Person
from app.cameras.zones import main_zone
from app.settings import Settings

log = logging.getLogger("maskwatch")
WINDOW_S = 10.0  # achieved fps is measured over this window
LAG_WINDOW = 600  # lag percentiles over the last this many frames


class CameraWatcher:
    def __init__(self, spec: CameraSpec, source: str, settings: Settings, counts: CountBuffer,
                 get_service: Callable, pool: ThreadPoolExecutor):
        self.spec, self.source, self.settings, self.counts = spec, source, settings, counts
        self.get_service, self.pool = get_service, pool
        self.reader = self._reader()
        self.hours = parse_hours(spec.hours) if spec.hours else None
        self.closed = False
        self.tracker = PeopleTracker(spec.fps, settings.camera_track_gap_s, settings.camera_min_frames, spec.zones, spec.lines,
                                     settings.camera_stationary_s, settings.camera_stationary_forget_s)
        self.frames_analysed = self.frames_dropped = self.reconnects_seen = 0
        self.last_frame_at: float | None = None
        self.lags: deque[float] = deque(maxlen=LAG_WINDOW)
        self.analysed_at: deque[float] = deque()
        self.snapshot: tuple[np.ndarray, list] | None = None
        self.task: asyncio.Task | None = None

    def _reader(self) -> StreamReader:
        s = self.settings
        return StreamReader(self.spec.id, self.spec.url, self.spec.transport, self.spec.loop, s.camera_stall_s, s.camera_open_timeout_s,
                            s.camera_backoff_max_s)

    def start(self) -> None:
        if self.spec.enabled:
            self.closed = not is_open(self.hours, datetime.now(self.settings.zone))
            if not self.closed:
                self.reader.start()
            self.task = asyncio.get_running_loop().create_task(self._loop())

    async def _keep_hours(self) -> bool:
        """Close the stream at closing time (counting who is in view) and open it again at opening; True while open."""
        closed = not is_open(self.hours, datetime.now(self.settings.zone))
        if closed and not self.closed:
            self.closed = True
            await asyncio.to_thread(self.reader.stop, self.settings.camera_open_timeout_s + 1)
            self._count(self.tracker.finish_all())
            log.info("camera %s: closed (hours %s)", self.spec.id, self.spec.hours)
        elif not closed and self.closed:
            self.closed, self.reconnects_seen = False, 0
            self.reader = self._reader()
            self.reader.start()
            log.info("camera %s: open (hours %s)", self.spec.id, self.spec.hours)
        return not closed

    async def stop(self, count: bool = True) -> None:
        """Close the stream and count the people still in view (not when the camera was deleted)."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await asyncio.to_thread(self.reader.stop, self.settings.camera_open_timeout_s + 1)
        people = self.tracker.finish_all()
        if count:
            self._count(people)
        metrics.CAMERA_UP.labels(camera=self.spec.id).set(0)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        period, next_tick, last_seq = 1 / self.spec.fps, loop.time(), 0
        while True:
            next_tick += period
            late = loop.time() - next_tick
            if late > 0:  # the last analysis outlasted its period: the frames of the ticks it covered are dropped
                missed = math.ceil(late / period)
                self._drop(missed)
                next_tick += missed * period
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            self._publish()
            if self.hours is not None and not await self._keep_hours():
                continue
            frame = self.reader.latest
            if frame is None or frame.seq == last_seq:
                self._idle()
                continue
            last_seq = frame.seq
            if self.get_service() is None:  # the models are still loading
                continue
            try:
                await self._analyse(frame)
            except Exception as err:  # one frame's failure (a restarted model process, a full queue) costs that frame
                self._drop(1)
                log.warning("camera %s: a frame was not analysed: %s: %s", self.spec.id, type(err).__name__, err)

    async def _analyse(self, frame: Frame) -> None:
        rgb = await asyncio.get_running_loop().run_in_executor(self.pool, lambda: frame.image.to_ndarray(format="rgb24"))
        faces = await self.get_service().analyse_frame(rgb)
        now = time.monotonic()
        self.frames_analysed += 1
        self.last_frame_at = time.time()
        self.lags.append(now - frame.arrived)
        metrics.CAMERA_LAG.labels(camera=self.spec.id).observe(self.lags[-1])
        self.analysed_at.append(now)
        self.snapshot = (rgb, faces)
        metrics.CAMERA_FRAMES.labels(camera=self.spec.id).inc()
        self._count(self.tracker.update(faces, now, self.last_frame_at, (rgb.shape[1], rgb.shape[0])))

    def _idle(self) -> None:
        """No new frame: once the stream has been away longer than a track's gap, the people in view are counted."""
        if self.tracker.in_view and self.analysed_at and time.monotonic() - self.analysed_at[-1] > self.settings.camera_track_gap_s:
            self._count(self.tracker.finish_all())

    def _drop(self, count: int) -> None:
        self.frames_dropped += count
        metrics.CAMERA_DROPPED.labels(camera=self.spec.id).inc(count)

    def _count(self, people: list[Person]) -> None:
        camera = self.spec.id
        for person in people:
            label = person.label(self.settings.camera_vote_share)
            zone = main_zone(person.zone_frames, self.spec.zones)
            key = f"{self.settings.replica_name}/{person.track}/{person.first_seen:.3f}"
            self.counts.put(Counted(camera, key, int(person.first_seen // 60), label, zone, tuple(person.crossings)))
            metrics.CAMERA_PEOPLE.labels(camera=camera, label=label, zone=zone or "").inc()
            for line, direction in person.crossings:
                metrics.CAMERA_CROSSINGS.labels(camera=camera, line=line, direction=direction, label=label).inc()

    def _publish(self) -> None:
        """Mirror the reader's and this loop's state into the Prometheus series."""
        camera = self.spec.id
        metrics.CAMERA_UP.labels(camera=camera).set(int(self.status == "up"))
        metrics.CAMERA_FPS.labels(camera=camera).set(self.achieved_fps())
        if self.reader.reconnects > self.reconnects_seen:
            metrics.CAMERA_RECONNECTS.labels(camera=camera).inc(self.reader.reconnects - self.reconnects_seen)
            self.reconnects_seen = self.reader.reconnects

    def achieved_fps(self) -> float:
        now = time.monotonic()
        while self.analysed_at and now - self.analysed_at[0] > WINDOW_S:
            self.analysed_at.popleft()
        return round(len(self.analysed_at) / WINDOW_S, 2)

    @property
    def status(self) -> str:
        return "disabled" if not self.spec.enabled else "closed" if self.closed else self.reader.status

    def live(self) -> dict:
        """What only the replica watching the camera knows, as its heartbeat carries it to the others."""
        lags = np.array(self.lags) if self.lags else None
        return {"status": self.status, "last_error": self.reader.last_error, "last_error_at": iso(self.reader.last_error_at),
                "frame_size": [self.reader.width, self.reader.height] if self.reader.width else None,
                "achieved_fps": self.achieved_fps(),
                "lag_s": round(float(lags[-1]), 3) if lags is not None else None,
                "lag_p99_s": round(float(np.percentile(lags, 99)), 3) if lags is not None else None,
                "last_frame_at": iso(self.last_frame_at),
                "frames_read": self.reader.frames_read, "frames_analysed": self.frames_analysed,
                "frames_dropped": self.frames_dropped, "reconnects": self.reader.reconnects,
                "people_in_view": self.tracker.in_view, "stationary": self.tracker.stationary()}


def iso(seconds: float | None) -> str | None:
    return datetime.fromtimestamp(seconds).astimezone().isoformat() if seconds else None
