"""Runs the cameras: those of the cameras file (read-only, the same file on every replica) and those clients add,
which the database keeps. Every replica answers for every camera, from the database; each camera is watched by
one replica. On SQLite that is the one process holding the database's lock file; on PostgreSQL each replica
holds leases on a fair share of the cameras (app/cameras/store.py, `leases`), renews them every
MASKWATCH_HEARTBEAT_S with a heartbeat carrying its cameras' live state, and a replica that stops renewing
loses its cameras to the others after MASKWATCH_LEASE_S. One camera's failure stays in its reader and watcher;
a database that goes away stops nothing but the answers that need it."""
import asyncio
import fcntl
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from app import metrics
from app.alerts.sink import CameraView
from app.cameras.config import CameraPatch, CameraSpec, CameraURLError, check_url, read_cameras_file, redact
from app.cameras.count_buffer import CountBuffer
from app.cameras.hours import today_start
from app.cameras.store import CameraStore
from app.compliance import no_people, window_summary
from app.database import describe
from app.errors import APIError
from app.mqtt import MQTT, camera_state
from app.settings import Settings

if TYPE_CHECKING:
    from app.cameras.watcher import CameraWatcher

log = logging.getLogger("maskwatch")
PURGE_EVERY_S = 3600
STOP_FLUSH_S = 5  # a clean stop waits this long for the counts to be written
NOT_DOWN = ("up", "closed", "disabled")  # every other status is time down (connecting, reconnecting, unreachable, ended)
UNWATCHED = {"status": "unwatched", "last_error": None, "last_error_at": None, "frame_size": None, "achieved_fps": 0.0, "lag_s": None,
             "lag_p99_s": None, "last_frame_at": None, "frames_read": 0, "frames_analysed": 0, "frames_dropped": 0, "reconnects": 0,
             "people_in_view": 0, "stationary": []}


def file_cameras(settings: Settings) -> list[CameraSpec]:
    """The cameras file's cameras, each URL checked; raises ValueError naming the file and camera (stops the start)."""
    if settings.cameras_file is None:
        return []
    cameras = read_cameras_file(settings.cameras_file)
    for camera in cameras:
        try:
            check_url(camera.url, settings.camera_allow_local, settings.camera_hosts)
        except CameraURLError as err:
            raise ValueError(f"{settings.cameras_file}: camera {camera.id!r}: url: {err}") from None
    return cameras


class CameraManager:
    def __init__(self, settings: Settings, url: str, get_service: Callable, pool: ThreadPoolExecutor, mqtt: MQTT | None = None):
        self.settings, self.url, self.get_service, self.pool, self.mqtt = settings, url, get_service, pool, mqtt
        self.me = settings.replica_name
        self.watchers: dict[str, "CameraWatcher"] = {}
        self.store: CameraStore | None = None
        self.store_error: str | None = "connecting"  # why the database does not answer; None while it does
        self.watching = settings.cameras_enabled  # whether this process takes cameras to watch
        self.from_file: dict[str, CameraSpec] = {}
        self.configs: dict[str, tuple[CameraSpec, str]] = {}  # every camera: (spec, "file" or "api"), as of the last tick
        self.replicas = 1
        self.counts = CountBuffer(settings.store_buffer)
        self._lock_file = None
        self._tick_lock = asyncio.Lock()
        self._down: dict[str, bool] = {}  # whether each watched camera was down at the last tick
        self._tasks: list[asyncio.Task] = []

    def _take_lock(self) -> bool:
        """On SQLite, one process watches the cameras of one database (several uvicorn workers share it)."""
        if self.url == "sqlite://":
            return True
        path = self.url.removeprefix("sqlite:///")
        try:
            self._lock_file = open(f"{path}.lock", "w")
        except OSError:
            return True  # no lock file where the database cannot be either: opening the store says why
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            log.info("another worker watches the cameras of %s; this one answers from the database", path)
            return False

    async def start(self, from_file: list[CameraSpec]) -> None:
        self.from_file = {spec.id: spec for spec in from_file}
        self.configs = {spec.id: (spec, "file") for spec in from_file}
        if self.watching and self.url.startswith("sqlite"):
            self.watching = self._take_lock()
        if await self._connect():
            await self.tick()  # the cameras are watched before the service reports started
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run()), loop.create_task(self.counts.run(lambda: self.store)),
                       loop.create_task(self._purge_loop())]

    async def _connect(self) -> bool:
        try:
            self.store = await asyncio.to_thread(CameraStore, self.url)
        except Exception as err:  # the photo API runs on without cameras, says why, and tries again
            self._failed(err)
            return False
        log.info("database: %s", "PostgreSQL" if self.store.postgres else "SQLite")
        return True

    def _failed(self, err: Exception) -> None:
        if self.store_error in (None, "connecting"):
            log.error("the database does not answer (MASKWATCH_DATABASE_URL or MASKWATCH_CAMERAS_DB); the cameras' answers "
                      "wait for it: %s", describe(err))
        self.store_error = f"{describe(err)} (MASKWATCH_DATABASE_URL or MASKWATCH_CAMERAS_DB)"
        metrics.STORE_UP.set(0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            if self.store is None and not await self._connect():
                continue
            await self.tick()

    async def tick(self) -> None:
        """Read the cameras, take this replica's share, start, restart or stop watchers to match, and send the heartbeat."""
        async with self._tick_lock:
            try:
                now = time.time()
                self.configs = self._configs(await asyncio.to_thread(self.store.cameras))
                if self.store.postgres:  # the replicas sharing the cameras: what each takes, and how many cameras they may hold
                    live = set(await asyncio.to_thread(self.store.live_replicas, now - self.settings.lease_s))
                    self.replicas = max(1, len(live | ({self.me} if self.watching else set())))
                if self.watching:
                    await self._reconcile(await self._share(now))
                await asyncio.to_thread(self.store.heartbeat, self.me, self.watching, {c: w.live() for c, w in self.watchers.items()}, now)
                await self._mark_down(now)
                if self.mqtt is not None:
                    await self._publish(now)
            except Exception as err:  # the cameras watched go on; so do their counts, into the buffer
                self._failed(err)
                return
            if self.store_error is not None:
                log.info("the database answers")
            self.store_error = None
            metrics.STORE_UP.set(1)

    async def _publish(self, now: float) -> None:
        """Each watched camera's state on MQTT (app/mqtt.py), which publishes what changed."""
        for camera, watcher in list(self.watchers.items()):
            today = await asyncio.to_thread(self._today, watcher.spec)
            self.mqtt.camera(camera, camera_state(watcher.live(), today), now)

    async def _mark_down(self, now: float) -> None:
        """Note each watched camera going down or coming back, for the reports' time down."""
        for camera, watcher in list(self.watchers.items()):
            down = watcher.status not in NOT_DOWN
            if self._down.get(camera) != down:
                await asyncio.to_thread(self.store.mark_down, camera, down, now)
                self._down[camera] = down
        self._down = {c: d for c, d in self._down.items() if c in self.watchers}

    def _configs(self, stored: list[dict]) -> dict[str, tuple[CameraSpec, str]]:
        configs = {s["id"]: (CameraSpec.model_validate(s), "api") for s in stored if s["id"] not in self.from_file}
        return {**configs, **{c: (spec, "file") for c, spec in self.from_file.items()}}

    async def _share(self, now: float) -> list[str]:
        """The cameras this replica watches: on SQLite every one; on PostgreSQL its leases, a fair share of them."""
        cameras = sorted(self.configs)
        if not self.store.postgres:
            return cameras[:self.settings.max_cameras]
        keep = min(self.settings.max_cameras, math.ceil(len(cameras) / self.replicas))
        return await asyncio.to_thread(self.store.leases, self.me, cameras, keep, now, self.settings.lease_s)

    async def _reconcile(self, mine: list[str]) -> None:
        for camera, watcher in list(self.watchers.items()):
            config = self.configs.get(camera)
            if config is None or camera not in mine or config[0] != watcher.spec:
                del self.watchers[camera]
                await watcher.stop(count=camera in self.configs)
                if camera not in self.configs:
                    self._forget(camera)
                elif camera not in mine:
                    log.info("camera %s: handed to another replica", camera)
        for camera in mine:
            if camera not in self.watchers:
                self._watch(*self.configs[camera])
        metrics.CAMERAS_WATCHED.set(len(self.watchers))

    async def stop(self) -> None:
        """Close every stream (SIGTERM), count the people still in view, write what waits, and free the leases."""
        for task in self._tasks:
            task.cancel()
        for watcher in self.watchers.values():  # every stream told at once, so their closing overlaps
            watcher.reader.request_stop()
        await asyncio.gather(*(w.stop() for w in self.watchers.values()))
        if self.watchers:
            log.info("closed %d camera streams", len(self.watchers))
        if self.store is not None:
            await self.counts.flush(self.store, STOP_FLUSH_S)
            try:
                await asyncio.to_thread(self.store.release, self.me)
            except Exception as err:
                log.warning("the leases were not released (they run out in %g s): %s", self.settings.lease_s, describe(err))
            self.store.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def _watch(self, spec: CameraSpec, source: str) -> "CameraWatcher":
        # here: PyAV (FFmpeg) loads with the first camera, so a server of photos only starts without it
        from app.cameras.watcher import CameraWatcher

        watcher = CameraWatcher(spec, source, self.settings, self.counts, self.get_service, self.pool)
        watcher.start()
        self.watchers[spec.id] = watcher
        log.info("camera %s: watching %s at %g fps", spec.id, redact(spec.url), spec.fps)
        return watcher

    def alert_views(self) -> list[CameraView]:
        """What the alert sink checks: every camera watched here."""
        return [CameraView(c, w.spec.alerts, w.spec.enabled, w.status, w.reader.last_error, partial(self.store.counts, c))
                for c, w in list(self.watchers.items())]

    def check_store(self) -> CameraStore:
        if self.store is None:
            raise APIError(503, "store_unavailable", f"the database does not answer: {self.store_error}", headers={"Retry-After": "5"})
        return self.store

    async def spec(self, camera: str) -> tuple[CameraSpec, str]:
        """The camera's spec and source (file or api); 404 when there is none. A camera added through another
        replica since the last tick is read from the database."""
        if camera in self.configs:
            return self.configs[camera]
        stored = await self.query(self.check_store().camera, camera)
        if stored is None:
            raise APIError(404, "camera_not_found", f"no camera {camera!r}")
        return CameraSpec.model_validate(stored), "api"

    async def query(self, call: Callable, *args):
        """A database call off the event loop; 503 `store_unavailable` when it fails."""
        try:
            return await asyncio.to_thread(call, *args)
        except SQLAlchemyError as err:
            self._failed(err)
            raise APIError(503, "store_unavailable", f"the database does not answer: {self.store_error}", headers={"Retry-After": "5"}) from None

    async def state(self, camera: str) -> dict:
        """What GET /v1/cameras/{id} answers, from any replica (the URL redacted). The configured zones and lines are
        under `regions`, as POST and PATCH take them; `zones` and `lines` are today's counts."""
        spec, source = await self.spec(camera)
        watcher = self.watchers.get(camera)
        if watcher is not None:
            live, by = watcher.live(), self.me
        else:
            found = await self.query(self.check_store().live, camera, time.time() - self.settings.lease_s)
            by, live = found if found else (None, UNWATCHED)
        counts = await self.query(self._today, spec)
        fields = spec.model_dump(by_alias=True)
        regions = {"zones": fields.pop("zones"), "lines": fields.pop("lines")}
        return {**fields, "url": redact(spec.url), "source": source, "read_only": source == "file", "regions": regions,
                "watched_by": by, **live, **counts}

    def _today(self, spec: CameraSpec) -> dict:
        """Today's people since local midnight in the site's zone: in all, per counted zone, per line and direction."""
        store, camera, now = self.check_store(), spec.id, time.time()
        since, until = int(today_start(self.settings.zone, now) // 60), int(now // 60) + 1
        with store.snapshot():
            zones, lines, total = store.zone_counts(camera, since, until), store.line_counts(camera, since, until), store.counts(camera, since, until)
        return {"today": window_summary(total),
                "zones": {z.name: window_summary(zones.get(z.name, no_people())) for z in spec.zones if not z.ignore},
                "lines": {line.name: {d: window_summary(lines.get((line.name, d), no_people())) for d in ("in", "out")}
                          for line in spec.lines}}

    async def states(self) -> list[dict]:
        self.check_store()
        return [await self.state(camera) for camera in sorted(self.configs)]

    def watcher(self, camera: str) -> "CameraWatcher":
        """The camera's watcher in this process; 404 naming the replica that has it otherwise."""
        watcher = self.watchers.get(camera)
        if watcher is None:
            raise APIError(404, "camera_on_other_replica", f"camera {camera!r} is not watched by this replica ({self.me}); "
                           "its live image is kept only where it is watched (`watched_by`)")
        return watcher

    def _check_url(self, url: str) -> None:
        try:
            check_url(url, self.settings.camera_allow_local, self.settings.camera_hosts)
        except CameraURLError as err:
            raise APIError(422, "invalid_url", f"url: {err}") from None

    async def add(self, spec: CameraSpec) -> dict:
        store = self.check_store()
        self._check_url(spec.url)
        if spec.id in self.from_file:
            raise APIError(409, "camera_exists", f"camera {spec.id!r} exists in the cameras file")
        if len(self.configs) >= self.settings.max_cameras * self.replicas:
            raise APIError(409, "too_many_cameras", f"{len(self.configs)} cameras are watched already by {self.replicas} "
                           f"replicas of {self.settings.max_cameras} each (MASKWATCH_MAX_CAMERAS)")
        if not await self.query(store.add_camera, spec.model_dump(by_alias=True)):
            raise APIError(409, "camera_exists", f"camera {spec.id!r} exists; PATCH or DELETE it")
        await self.tick()
        return await self.state(spec.id)

    async def update(self, camera: str, patch: CameraPatch) -> dict:
        old = await self._writable(camera)
        changes = patch.model_dump(exclude_none=True, by_alias=True)
        if changes.get("hours") == "":
            changes["hours"] = None  # "" = always open
        spec = CameraSpec.model_validate({**old.model_dump(by_alias=True), **changes})  # each field was checked by CameraPatch
        self._check_url(spec.url)
        await self.query(self.check_store().put_camera, spec.model_dump(by_alias=True))
        await self.tick()
        return await self.state(camera)

    async def delete(self, camera: str) -> None:
        await self._writable(camera)
        async with self._tick_lock:  # so that no tick in flight publishes the camera again
            watcher = self.watchers.pop(camera, None)
            if watcher is not None:
                await watcher.stop(count=False)
            self._forget(camera)
            await self.query(self.check_store().delete_camera, camera)
        await self.tick()

    def _forget(self, camera: str) -> None:
        """A deleted camera's Prometheus series and MQTT topics go with it."""
        metrics.forget_camera(camera)
        if self.mqtt is not None:
            self.mqtt.forget(camera)

    async def _writable(self, camera: str) -> CameraSpec:
        spec, source = await self.spec(camera)
        if source == "file":
            raise APIError(409, "read_only", f"camera {camera!r} comes from the cameras file; change it there")
        return spec

    async def _purge_loop(self) -> None:
        while True:
            if self.store is not None:
                cutoff = int((time.time() - self.settings.camera_retention_days * 86400) // 60)
                try:
                    dropped = await asyncio.to_thread(self.store.purge, cutoff)
                except Exception as err:
                    self._failed(err)
                    dropped = 0
                if dropped:
                    log.info("dropped %d people-count rows older than %g days", dropped, self.settings.camera_retention_days)
            await asyncio.sleep(PURGE_EVERY_S)
