"""The camera routes: /v1/cameras (list, add), /v1/cameras/{id} (state, change, delete), its /stats time
series and its /snapshot. They need an API key when keys are on, as /v1/classify does."""
import asyncio
import re
import time
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.auth import require_api_key
from app.cameras.config import CameraPatch, CameraSpec
from app.cameras.manager import CameraManager
from app.cameras.watcher import with_compliance
from app.errors import APIError
from app.schemas import CameraList, CameraState, CameraStats, ErrorResponse
from app.service import encode_png
from models.annotate import annotate

router = APIRouter(prefix="/v1/cameras", tags=["cameras"], dependencies=[Depends(require_api_key)])
ERRORS = {code: {"model": ErrorResponse} for code in (401, 404, 409, 422, 503)}
BUCKET = re.compile(r"^(\d+)([mhd])$")
MINUTES = {"m": 1, "h": 60, "d": 1440}
MAX_BUCKETS = 5000
LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z


def get_cameras(request: Request) -> CameraManager:
    return request.app.state.cameras


@router.post("", status_code=201, response_model=CameraState, responses=ERRORS)
async def add_camera(spec: CameraSpec, cameras: CameraManager = Depends(get_cameras)):
    """Watch a camera. An unreachable URL is accepted: its status says `unreachable` while it is retried."""
    return cameras.add(spec).state()


@router.get("", response_model=CameraList, responses=ERRORS)
async def list_cameras(cameras: CameraManager = Depends(get_cameras)):
    """Every camera with its state."""
    cameras.check_here()
    return {"cameras": [w.state() for w in cameras.watchers.values()]}


@router.get("/{camera}", response_model=CameraState, responses=ERRORS)
async def camera_state(camera: str, cameras: CameraManager = Depends(get_cameras)):
    """Status, last error, configured and achieved fps, lag, frames read, analysed and dropped, reconnects, and today's people by label."""
    return cameras.get(camera).state()


@router.patch("/{camera}", response_model=CameraState, responses=ERRORS)
async def change_camera(camera: str, patch: CameraPatch, cameras: CameraManager = Depends(get_cameras)):
    """Change a camera added through the API; its stream is reopened."""
    return (await cameras.update(camera, patch)).state()


@router.delete("/{camera}", status_code=204, responses=ERRORS)
async def delete_camera(camera: str, cameras: CameraManager = Depends(get_cameras)):
    """Stop watching a camera added through the API and forget its counts."""
    await cameras.delete(camera)
    return Response(status_code=204)


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


@router.get("/{camera}/stats", response_model=CameraStats, responses=ERRORS)
async def camera_stats(camera: str, since: str | None = None, until: str | None = None,
                 bucket: Annotated[str, Query(description="bucket length: Nm, Nh or Nd")] = "1h",
                 cameras: CameraManager = Depends(get_cameras)):
    """People by label and compliance per bucket in [since, until) (default: the last 24 hours), by the minute
    each person was first seen."""
    watcher = cameras.get(camera)
    match = BUCKET.match(bucket)
    if not match or int(match[1]) == 0:
        raise APIError(422, "invalid_parameters", f"bucket: expected like 1m, 15m, 1h, 1d, got {bucket!r}")
    bucket_min = int(match[1]) * MINUTES[match[2]]
    end = parse_time(until, time.time(), "until")
    start = parse_time(since, end - 86400, "since")
    first, last = int(start // 60), int(-(-end // 60))
    if last <= first:
        raise APIError(422, "invalid_parameters", "since: must be before until")
    if (last - first) / bucket_min > MAX_BUCKETS:
        raise APIError(422, "invalid_parameters", f"bucket: more than {MAX_BUCKETS} buckets; take a longer bucket")
    found = watcher.store.series(camera, first, last, bucket_min)
    empty = with_compliance(watcher.store.counts(camera, 0, 0))
    series = [{"start": datetime.fromtimestamp(m * 60, timezone.utc).isoformat(), **(with_compliance(found[m]) if m in found else empty)}
              for m in range(first, last, bucket_min)]
    return {"camera": camera, "since": datetime.fromtimestamp(first * 60, timezone.utc).isoformat(),
            "until": datetime.fromtimestamp(last * 60, timezone.utc).isoformat(), "bucket_minutes": bucket_min,
            "total": with_compliance(watcher.store.counts(camera, first, last)), "series": series}


@router.get("/{camera}/snapshot", response_class=Response, responses={200: {"content": {"image/png": {}}}, **ERRORS})
async def camera_snapshot(request: Request, camera: str,
                          blur: Annotated[bool, Query(description="blur the faces (the default); false shows them")] = True,
                          cameras: CameraManager = Depends(get_cameras)):
    """The newest analysed frame with its faces drawn, faces blurred unless `blur=false`. Kept in memory only."""
    snapshot = cameras.get(camera).snapshot
    if snapshot is None:
        raise APIError(404, "no_frame", f"camera {camera!r} has no analysed frame yet")
    rgb, faces = snapshot
    png = await asyncio.get_running_loop().run_in_executor(request.app.state.cpu_pool, lambda: encode_png(annotate(rgb, faces, blur)))
    return Response(png, media_type="image/png")
