"""Opening hours and the site's day. A camera's `hours` is a list of rules separated by ';', each days then times:

    Mon-Fri 08:00-20:00; Sat 09:00-18:00; Sun 10:00-12:00,14:00-16:00

Days are Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range (Mon-Fri, Fri-Mon wraps) or a comma list of those; times are
HH:MM-HH:MM on the 24-hour clock in the site's time zone (MASKWATCH_TIMEZONE), an end of 24:00 meaning midnight. A
period ends on the day it starts: write 22:00-02:00 as `Fri 22:00-24:00; Sat 00:00-02:00`. No `hours` means always
open. Days start at local midnight, so a day of a daylight-saving change has 23 or 25 hours."""
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RULE = re.compile(r"^\s*(?P<days>[A-Za-z,\-\s]+?)\s+(?P<times>[\d:,\-\s]+)\s*$")
PERIOD = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")


def _days(text: str) -> set[int]:
    found = set()
    for part in text.replace(" ", "").lower().split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"{part!r} is not a day or a range of days (Mon, Tue, Wed, Thu, Fri, Sat, Sun, e.g. Mon-Fri)")
        start, end = DAYS.index(first), DAYS.index(last or first)
        found |= {(start + i) % 7 for i in range((end - start) % 7 + 1)}
    return found


def _period(text: str) -> tuple[int, int]:
    match = PERIOD.match(text)
    if not match:
        raise ValueError(f"{text.strip()!r} is not a period like 08:00-20:00")
    h1, m1, h2, m2 = map(int, match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 1440 or end <= start:
        raise ValueError(f"{text.strip()!r}: a period runs from a time to a later one, at most 24:00")
    return start, end


def parse_hours(text: str) -> dict[int, list[tuple[int, int]]]:
    """Weekday (0 = Monday) -> open periods in minutes of the day. Raises ValueError saying what is wrong."""
    week: dict[int, list[tuple[int, int]]] = {}
    for rule in filter(str.strip, text.split(";")):
        match = RULE.match(rule)
        if not match:
            raise ValueError(f"{rule.strip()!r} is not days then times, like 'Mon-Fri 08:00-20:00'")
        periods = [_period(p) for p in match["times"].split(",")]
        for day in _days(match["days"]):
            week.setdefault(day, []).extend(periods)
    if not week:
        raise ValueError("no rule: write e.g. 'Mon-Fri 08:00-20:00', or leave hours out for always open")
    return week


def is_open(week: dict[int, list[tuple[int, int]]] | None, moment: datetime) -> bool:
    """Whether `moment` (aware, in the site's zone) lies in an open period; None hours are always open."""
    if week is None:
        return True
    minute = moment.hour * 60 + moment.minute
    return any(start <= minute < end for start, end in week.get(moment.weekday(), ()))


def local_midnight(day: date, zone: ZoneInfo) -> float:
    """Unix seconds of `day`'s first moment in `zone`."""
    return datetime.combine(day, time(0), zone).timestamp()


def today_start(zone: ZoneInfo, now: float) -> float:
    return local_midnight(datetime.fromtimestamp(now, zone).date(), zone)


def day_starts(zone: ZoneInfo, since: float, until: float, days: int) -> list[float]:
    """Unix seconds of the local midnights from `since`'s day, every `days` days, up to the first at or after `until`."""
    day = datetime.fromtimestamp(since, zone).date()
    starts = [local_midnight(day, zone)]
    while starts[-1] < until:
        day += timedelta(days=days)
        starts.append(local_midnight(day, zone))
    return starts


def bucket_bounds(start: float, end: float, bucket_min: int, days: bool, zone: ZoneInfo) -> list[int]:
    """The buckets' first minutes, then the end's: from `start`'s minute, or for days from its local midnight.
    /stats and the daily reports both count in these, so they agree to the person."""
    if days:
        return [int(s // 60) for s in day_starts(zone, start, end, bucket_min // 1440)]
    first, last = int(start // 60), int(-(-end // 60))
    return list(range(first, last, bucket_min)) + [last]
