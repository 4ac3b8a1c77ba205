"""The camera routes: /v1/cameras (list, add), /v1/cameras/{id} (state, change, delete), its /stats time
series and its /snapshot. They need an API key when keys are on, as /v1/classify does."""
import asyncio
import logging
import re
import time
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.auth import check_role, key_name, require
from app.cameras.config import CameraPatch, CameraSpec
from app.cameras.hours import bucket_bounds
from app.cameras.manager import CameraManager
from app.cameras.store import CameraStore
from app.compliance import no_people, window_summary
from app.errors import APIError
from app.imaging import encode_png
from app.schemas import CameraList, CameraState, CameraStats, ErrorResponse
from app.settings import Settings, get_settings
from models.annotate import annotate

router = APIRouter(prefix="/v1/cameras", tags=["cameras"])
ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 422, 503)}
BUCKET = re.compile(r"^(\d+)([mhd])$")
MINUTES = {"m": 1, "h": 60, "d": 1440}
MAX_BUCKETS = 5000
log = logging.getLogger("maskwatch")
LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z


def get_cameras(request: Request) -> CameraManager:
    return request.app.state.cameras


@router.post("", status_code=201, response_model=CameraState, responses=ERRORS, dependencies=[require("admin")])
async def add_camera(request: Request, spec: CameraSpec, cameras: CameraManager = Depends(get_cameras)):
    """Watch a camera. An unreachable URL is accepted: its status says `unreachable` while it is retried."""
    state = await cameras.add(spec)
    await audit(request, cameras, "camera_added", spec.id, sorted(spec.model_fields_set))
    return state


@router.get("", response_model=CameraList, responses=ERRORS, dependencies=[require("viewer")])
async def list_cameras(cameras: CameraManager = Depends(get_cameras)):
    """Every camera with its state, whichever replica watches it."""
    return {"cameras": await cameras.states()}


@router.get("/{camera}", response_model=CameraState, responses=ERRORS, dependencies=[require("viewer")])
async def camera_state(camera: str, cameras: CameraManager = Depends(get_cameras)):
    """Status, last error, configured and achieved fps, lag, frames read, analysed and dropped, reconnects, the replica
    watching it, and today's people by label."""
    return await cameras.state(camera)


@router.patch("/{camera}", response_model=CameraState, responses=ERRORS, dependencies=[require("admin")])
async def change_camera(request: Request, camera: str, patch: CameraPatch, cameras: CameraManager = Depends(get_cameras)):
    """Change a camera added through the API; its stream is reopened."""
    state = await cameras.update(camera, patch)
    await audit(request, cameras, "camera_changed", camera, sorted(patch.model_fields_set))
    return state


@router.delete("/{camera}", status_code=204, responses=ERRORS, dependencies=[require("admin")])
async def delete_camera(request: Request, camera: str, cameras: CameraManager = Depends(get_cameras)):
    """Stop watching a camera added through the API and forget its counts."""
    await cameras.delete(camera)
    await audit(request, cameras, "camera_deleted", camera, [])
    return Response(status_code=204)


async def audit(request: Request, cameras: CameraManager, action: str, camera: str, fields: list[str]) -> None:
    """One JSON log line and one row of the database's audit table per admin change: who (the key's name, never the
    key), what, which fields (never their values: a URL may hold a password). The change is made already: a row
    that cannot be written is logged, not answered as an error."""
    key = key_name(request)
    log.info("audit: %s %s", action, camera, extra={"fields": {"audit": action, "camera": camera, "changed": fields, "key": key}})
    try:
        await asyncio.to_thread(cameras.check_store().audit, key, action, camera, fields)
    except Exception as err:
        log.warning("audit: %s %s: not written to the database: %s", action, camera, err)


def parse_time(text: str | None, default: float, name: str) -> float:
    """Unix seconds from ISO 8601 (no zone = UTC) or a number of seconds, between 1970 and 9999."""
    if text is None:
        return default
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise APIError(422, "invalid_parameters", f"{name}: not ISO 8601 or unix seconds: {text!r}") from None
        seconds = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    if not 0 <= seconds <= LAST_SECOND:
        raise APIError(422, "invalid_parameters", f"{name}: must lie between 1970 and 9999, got {text!r}")
    return seconds


@router.get("/{camera}/stats", response_model=CameraStats, responses=ERRORS, dependencies=[require("viewer")])
async def camera_stats(camera: str, since: str | None = None, until: str | None = None,
                       bucket: Annotated[str, Query(description="bucket length: Nm, Nh or Nd (days start at local midnight "
                                                    "in MASKWATCH_TIMEZONE)")] = "1h",
                       zone: Annotated[str | None, Query(description="only the people of this counted zone")] = None,
                       cameras: CameraManager = Depends(get_cameras), settings: Settings = Depends(get_settings)):
    """People by label and compliance per bucket in [since, until) (default: the last 24 hours), by the minute
    each person was first seen, in all or in one `zone`; and the window's line crossings."""
    spec, _ = await cameras.spec(camera)
    match = BUCKET.match(bucket)
    if not match or int(match[1]) == 0:
        raise APIError(422, "invalid_parameters", f"bucket: expected like 1m, 15m, 1h, 1d, got {bucket!r}")
    counted = [z.name for z in spec.zones if not z.ignore]
    if zone is not None and zone not in counted:
        raise APIError(422, "invalid_parameters", f"zone: camera {camera!r} has no counted zone {zone!r}; its zones: {counted}")
    bucket_min = int(match[1]) * MINUTES[match[2]]
    end = parse_time(until, time.time(), "until")
    start = parse_time(since, end - 86400, "since")
    if end <= start:
        raise APIError(422, "invalid_parameters", "since: must be before until")
    if (end - start) / 60 / bucket_min > MAX_BUCKETS:
        raise APIError(422, "invalid_parameters", f"bucket: more than {MAX_BUCKETS} buckets; take a longer bucket")
    bounds = bucket_bounds(start, end, bucket_min, match[2] == "d", settings.zone)
    found, total, lines = await cameras.query(window_counts, cameras.check_store(), camera, bounds, bucket_min, match[2] == "d", zone)
    series = [{"start": utc(m), **window_summary(found.get(m, no_people()))} for m in bounds[:-1]]
    return {"camera": camera, "zone": zone, "since": utc(bounds[0]), "until": utc(bounds[-1]), "bucket_minutes": bucket_min,
            "total": window_summary(total), "series": series,
            "lines": {line.name: {d: window_summary(lines.get((line.name, d), no_people())) for d in ("in", "out")}
                      for line in spec.lines}}


def window_counts(store: CameraStore, camera: str, bounds: list[int], bucket_min: int, days: bool, zone: str | None) -> tuple:
    """Per bucket, in all, and per line crossed: the database's answers for one /stats window."""
    with store.snapshot():
        if days:  # local days are 23 to 25 hours long: one query each
            found = {m: store.counts(camera, m, n, zone) for m, n in zip(bounds, bounds[1:])}
        else:
            found = store.series(camera, bounds[0], bounds[-1], bucket_min, zone)
        return found, store.counts(camera, bounds[0], bounds[-1], zone), store.line_counts(camera, bounds[0], bounds[-1])


def utc(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, timezone.utc).isoformat()


@router.get("/{camera}/snapshot", response_class=Response, responses={200: {"content": {"image/png": {}}}, **ERRORS},
            dependencies=[require("viewer")])
async def camera_snapshot(request: Request, camera: str,
                          blur: Annotated[bool, Query(description="blur the faces (the default); false shows them, for the admin role")] = True,
                          cameras: CameraManager = Depends(get_cameras)):
    """The newest analysed frame with its faces drawn, faces blurred unless `blur=false`. Kept in memory only."""
    if not blur:
        check_role(request, "admin")
    await cameras.spec(camera)
    snapshot = cameras.watcher(camera).snapshot
    if snapshot is None:
        raise APIError(404, "no_frame", f"camera {camera!r} has no analysed frame yet")
    rgb, faces = snapshot
    png = await asyncio.get_running_loop().run_in_executor(request.app.state.cpu_pool, lambda: encode_png(annotate(rgb, faces, blur)))
    return Response(png, media_type="image/png")
