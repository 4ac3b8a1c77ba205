"""One day's report, built from the same counts and the same local-hour buckets /stats answers, so the two agree
to the person; and its CSV, one row per camera (and zone) and hour."""
import csv
import io
from datetime import date, datetime

from app.cameras.config import CameraSpec
from app.cameras.hours import bucket_bounds, day_starts, local_midnight
from app.cameras.store import CameraStore
from app.compliance import LABELS, no_people, window_summary
from app.settings import Settings

CSV_COLUMNS = ("camera", "zone", "hour", *LABELS, "people", "compliance")


def day_bounds(day: date, settings: Settings) -> list[int]:
    """The minutes the day's local hours start at, then the next day's midnight: 23 to 25 hours."""
    start = local_midnight(day, settings.zone)
    return bucket_bounds(start, day_starts(settings.zone, start, start + 1, 1)[-1], 60, False, settings.zone)


def hours(found: dict[int, dict[str, int]], bounds: list[int], settings: Settings) -> list[dict]:
    return [{"hour": datetime.fromtimestamp(m * 60, settings.zone).isoformat(), **window_summary(found.get(m, no_people()))}
            for m in bounds[:-1]]


def camera_day(store: CameraStore, spec: CameraSpec, bounds: list[int], settings: Settings) -> dict:
    """One camera's day: in all, per counted zone and per line, with its alerts and time down (database calls)."""
    camera, since, until = spec.id, bounds[0], bounds[-1]
    with store.snapshot():
        lines, total, series = store.line_counts(camera, since, until), store.counts(camera, since, until), store.series(camera, since, until, 60)
        zones = {z.name: {"total": window_summary(store.counts(camera, since, until, z.name)),
                          "hours": hours(store.series(camera, since, until, 60, z.name), bounds, settings)}
                 for z in spec.zones if not z.ignore}
    return {"camera": camera, "total": window_summary(total), "hours": hours(series, bounds, settings), "zones": zones,
            "lines": {line.name: {d: window_summary(lines.get((line.name, d), no_people())) for d in ("in", "out")} for line in spec.lines},
            "alerts": [{"rule": alert["rule"], "fired_at": datetime.fromtimestamp(at, settings.zone).isoformat()}
                       for at, alert in store.alerts(camera, since * 60, until * 60)],
            "down_s": round(store.down_seconds(camera, since * 60, until * 60), 1)}


def daily_report(store: CameraStore, specs: list[CameraSpec], day: date, settings: Settings) -> dict:
    bounds = day_bounds(day, settings)
    return {"date": day.isoformat(), "timezone": settings.timezone,
            "since": datetime.fromtimestamp(bounds[0] * 60, settings.zone).isoformat(),
            "until": datetime.fromtimestamp(bounds[-1] * 60, settings.zone).isoformat(),
            "cameras": [camera_day(store, spec, bounds, settings) for spec in specs]}


def to_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for camera in report["cameras"]:
        parts = [("", camera["hours"])] + [(zone, z["hours"]) for zone, z in camera["zones"].items()]
        for zone, rows in parts:
            for row in rows:
                writer.writerow([camera["camera"], zone, row["hour"], *(row[c] for c in CSV_COLUMNS[3:-1]),
                                 "" if row["compliance"] is None else row["compliance"]])
    return out.getvalue()
