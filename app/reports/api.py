"""GET /v1/reports/daily: one day of every camera (or of `cameras=`), in the site's time zone, as JSON, CSV or PDF.
A viewer key reads it, as it reads /stats."""
import asyncio
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.auth import require
from app.cameras.api import get_cameras
from app.cameras.manager import CameraManager
from app.errors import APIError
from app.reports.daily import daily_report, to_csv
from app.reports.pdf import render_pdf
from app.schemas import ErrorResponse
from app.settings import Settings, get_settings

router = APIRouter(prefix="/v1/reports", tags=["reports"])
ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 422, 503)}
FORMATS = ("json", "csv", "pdf")


def parse_day(text: str | None, settings: Settings) -> date:
    """The day asked for (default: today in the site's zone); 422 naming `date` for one that is not a past or present day."""
    today = datetime.now(settings.zone).date()
    if text is None:
        return today
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise APIError(422, "invalid_parameters", f"date: expected YYYY-MM-DD, got {text!r}") from None
    if day > today:
        raise APIError(422, "invalid_parameters", f"date: {day} has not begun yet in {settings.timezone} (today is {today})")
    return day


@router.get("/daily", responses={200: {"content": {"text/csv": {}, "application/pdf": {}}}, **ERRORS}, dependencies=[require("viewer")])
async def daily(request: Request, date: Annotated[str | None, Query(description="YYYY-MM-DD in MASKWATCH_TIMEZONE; default today")] = None,
                format: Annotated[str, Query(description="json, csv or pdf")] = "json",
                cameras: Annotated[str | None, Query(description="comma-separated camera ids; default every camera")] = None,
                manager: CameraManager = Depends(get_cameras), settings: Settings = Depends(get_settings)):
    """Per camera: people by label, compliance, hour by hour, per zone and line, the alerts sent and the time down."""
    day = parse_day(date, settings)
    if format not in FORMATS:
        raise APIError(422, "invalid_parameters", f"format: one of {', '.join(FORMATS)}, got {format!r}")
    specs = [spec for spec, _ in await asyncio.gather(*(known(manager, c) for c in wanted(cameras, manager)))]
    report = await manager.query(daily_report, manager.check_store(), specs, day, settings)
    return await respond(report, format, request)


def wanted(cameras: str | None, manager: CameraManager) -> list[str]:
    if cameras is None:
        return sorted(manager.configs)
    return [c.strip() for c in cameras.split(",") if c.strip()]


async def known(manager: CameraManager, camera: str):
    try:
        return await manager.spec(camera)
    except APIError as err:
        if err.status != 404:
            raise
        raise APIError(422, "invalid_parameters", f"cameras: no camera {camera!r}") from None


async def respond(report: dict, format: str, request: Request):
    name = f"maskwatch-{report['date']}"
    if format == "json":
        return report
    if format == "csv":
        body, media_type = to_csv(report), "text/csv"
    else:  # drawn in the CPU pool, off the event loop: matplotlib takes a second or so
        body, media_type = await asyncio.get_running_loop().run_in_executor(request.app.state.cpu_pool, render_pdf, report), "application/pdf"
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'})
