"""Runs every camera: those of the cameras file (read-only) and those clients add, which the store keeps so a
restart resumes them. One camera's failure stays in its reader and watcher; the API answers regardless."""
import asyncio
import fcntl
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from app import metrics
from app.alerts.sink import CameraView
from app.cameras.config import CameraPatch, CameraSpec, CameraURLError, check_url, read_cameras_file, redact
from app.cameras.sharding import own_address, owner, resolve_peers
from app.cameras.store import CameraStore
from app.errors import APIError
from app.settings import Settings

if TYPE_CHECKING:
    from app.cameras.watcher import CameraWatcher

log = logging.getLogger("maskwatch")
PURGE_EVERY_S = 3600


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
    def __init__(self, settings: Settings, get_service: Callable, pool: ThreadPoolExecutor):
        self.settings, self.get_service, self.pool = settings, get_service, pool
        self.watchers: dict[str, "CameraWatcher"] = {}
        self.store: CameraStore | None = None
        self.elsewhere: str | None = None  # why this process does not watch the cameras
        self._lock_file = None
        self._purge: asyncio.Task | None = None
        self._shards: asyncio.Task | None = None
        self.sharded: list[CameraSpec] = []  # with MASKWATCH_CAMERA_PEERS: the file's cameras, each watched by its owner
        self.peers: set[str] = set()

    def _take_lock(self) -> bool:
        """Only one process watches the cameras of one database (several uvicorn workers share it)."""
        if str(self.settings.cameras_db) == ":memory:":
            return True
        try:
            self.settings.cameras_db.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(f"{self.settings.cameras_db}.lock", "w")
        except OSError:
            return True  # no lock file where the database cannot be either: opening the store says why
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            return False

    async def start(self, from_file: list[CameraSpec]) -> None:
        if not self.settings.cameras_enabled:
            self.elsewhere = "cameras are off in this process (MASKWATCH_CAMERAS_ENABLED=false): other replicas watch them"
            return
        if not self._take_lock():
            self.elsewhere = (f"another worker watches the cameras of {self.settings.cameras_db}; "
                              "the camera API needs WORKERS=1")
            log.warning(self.elsewhere)
            return
        try:
            self.store = CameraStore(self.settings.cameras_db)
        except Exception as err:  # the photo API runs on without cameras, and says why
            self.elsewhere = f"the camera database {self.settings.cameras_db} cannot be opened: {err} (MASKWATCH_CAMERAS_DB)"
            log.error(self.elsewhere)
            return
        self._purge = asyncio.get_running_loop().create_task(self._purge_loop())
        if self.settings.camera_peers:
            self.sharded = from_file
            self._shards = asyncio.get_running_loop().create_task(self._share_loop(self.settings.camera_self or own_address()))
            return
        for spec in from_file:
            self._watch(spec, "file")
        for stored in self.store.cameras():
            if stored["id"] in self.watchers:
                log.warning("camera %s: the cameras file defines it; the API's copy is ignored", stored["id"])
                continue
            self._watch(CameraSpec.model_validate(stored), "api")
        log.info("watching %d cameras", len(self.watchers))

    async def _share_loop(self, me: str) -> None:
        """Watch the file's cameras this replica owns among the live peers, and let go of the others."""
        while True:
            self.peers = await asyncio.to_thread(resolve_peers, self.settings.camera_peers)
            mine = {spec.id for spec in self.sharded if owner(spec.id, self.peers) == me}
            for camera in [c for c in self.watchers if c not in mine]:
                await self.watchers.pop(camera).stop()
                log.info("camera %s: now watched by replica %s", camera, owner(camera, self.peers))
            for spec in self.sharded:
                if spec.id in mine and spec.id not in self.watchers:
                    self._watch(spec, "file")
            await asyncio.sleep(self.settings.camera_peer_poll_s)

    async def stop(self) -> None:
        """Close every stream (SIGTERM), counting the people still in view."""
        for task in (self._purge, self._shards):
            if task is not None:
                task.cancel()
        for watcher in self.watchers.values():  # every stream told at once, so their closing overlaps
            watcher.reader.request_stop()
        await asyncio.gather(*(w.stop() for w in self.watchers.values()))
        if self.watchers:
            log.info("closed %d camera streams", len(self.watchers))
        if self.store is not None:
            self.store.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def _watch(self, spec: CameraSpec, source: str) -> "CameraWatcher":
        # here: PyAV (FFmpeg) loads with the first camera, so a server of photos only starts without it
        from app.cameras.watcher import CameraWatcher

        watcher = CameraWatcher(spec, source, self.settings, self.store, self.get_service, self.pool)
        watcher.start()
        self.watchers[spec.id] = watcher
        log.info("camera %s: watching %s at %g fps", spec.id, redact(spec.url), spec.fps)
        return watcher

    def alert_views(self) -> list[CameraView]:
        """What the alert sink checks: every camera watched here."""
        return [watcher.alert_view() for watcher in self.watchers.values()]

    def get(self, camera: str) -> "CameraWatcher":
        self.check_here()
        watcher = self.watchers.get(camera)
        if watcher is None and any(spec.id == camera for spec in self.sharded):
            raise APIError(404, "camera_on_other_replica", f"camera {camera!r} is watched by replica {owner(camera, self.peers)}")
        if watcher is None:
            raise APIError(404, "camera_not_found", f"no camera {camera!r}")
        return watcher

    def check_here(self) -> None:
        if self.elsewhere:
            raise APIError(503, "cameras_elsewhere", self.elsewhere)

    def _check_url(self, url: str) -> None:
        try:
            check_url(url, self.settings.camera_allow_local, self.settings.camera_hosts)
        except CameraURLError as err:
            raise APIError(422, "invalid_url", f"url: {err}") from None

    def add(self, spec: CameraSpec) -> "CameraWatcher":
        self.check_here()
        if self.settings.camera_peers:
            raise APIError(409, "sharded", "with MASKWATCH_CAMERA_PEERS, cameras come from the cameras file, shared by every replica")
        self._check_url(spec.url)
        if spec.id in self.watchers:
            raise APIError(409, "camera_exists", f"camera {spec.id!r} exists; PATCH or DELETE it")
        if len(self.watchers) >= self.settings.max_cameras:
            raise APIError(409, "too_many_cameras", f"{self.settings.max_cameras} cameras are watched already (MASKWATCH_MAX_CAMERAS)")
        self.store.put_camera(spec.model_dump(by_alias=True))
        return self._watch(spec, "api")

    async def update(self, camera: str, patch: CameraPatch) -> "CameraWatcher":
        old = self._writable(camera)
        changes = patch.model_dump(exclude_none=True, by_alias=True)
        if changes.get("hours") == "":
            changes["hours"] = None  # "" = always open
        spec = CameraSpec.model_validate({**old.spec.model_dump(by_alias=True), **changes})  # each field was checked by CameraPatch
        self._check_url(spec.url)
        self.store.put_camera(spec.model_dump(by_alias=True))
        await old.stop()
        return self._watch(spec, "api")

    async def delete(self, camera: str) -> None:
        watcher = self._writable(camera)
        del self.watchers[camera]
        await watcher.stop()
        self.store.delete_camera(camera)
        metrics.forget_camera(camera)

    def _writable(self, camera: str) -> "CameraWatcher":
        watcher = self.get(camera)
        if watcher.source == "file":
            raise APIError(409, "read_only", f"camera {camera!r} comes from the cameras file; change it there")
        return watcher

    async def _purge_loop(self) -> None:
        while True:
            cutoff = int((time.time() - self.settings.camera_retention_days * 86400) // 60)
            dropped = self.store.purge(cutoff)
            if dropped:
                log.info("dropped %d people-count rows older than %g days", dropped, self.settings.camera_retention_days)
            await asyncio.sleep(PURGE_EVERY_S)
