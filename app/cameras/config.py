"""What a camera is (`CameraSpec`), which URLs the service may open on a client's behalf, the cameras file,
and how credentials are kept out of logs, answers and metrics."""
import ipaddress
import re
import socket
import tomllib
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.alerts.rules import AlertRule
from app.cameras.hours import parse_hours
from app.cameras.zones import Line, Zone, check_names

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
LOCAL_SCHEMES = ("file", "device")  # only with MASKWATCH_CAMERA_ALLOW_LOCAL
SECRET_QUERY_KEYS = {"password", "pass", "pwd", "passwd", "token", "key", "apikey", "api_key", "auth", "secret", "user", "username"}
USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s'\"]+@", re.IGNORECASE)
CAMERA_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class CameraSpec(BaseModel):
    """A camera as clients and the cameras file give it."""
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=CAMERA_ID, description="letters, digits, '.', '_', '-'; at most 64")
    url: str = Field(min_length=1, max_length=2048, description="rtsp://, rtsps://, http(s):// (MJPEG or HLS); file:// and "
                     "device:///dev/videoN when MASKWATCH_CAMERA_ALLOW_LOCAL is on")
    fps: float = Field(2.0, ge=0.01, le=30, description="frames analysed per second, always the newest")
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport")
    loop: bool = Field(False, description="file sources: start again at the end")
    enabled: bool = Field(True, description="false keeps the camera but closes its stream")
    alerts: list[AlertRule] = Field([], description="rules sent to MASKWATCH_ALERT_WEBHOOK: low_compliance, camera_down")
    zones: list[Zone] = Field([], max_length=32, description="polygons where people count, or are ignored (app/cameras/zones.py)")
    lines: list[Line] = Field([], max_length=16, description="lines whose crossings are counted in and out")
    hours: str | None = Field(None, max_length=500, description="opening hours, e.g. 'Mon-Fri 08:00-20:00; Sat 09:00-18:00', in "
                              "MASKWATCH_TIMEZONE (app/cameras/hours.py); outside them nothing is analysed; none = always open")

    unique_names = field_validator("zones", "lines")(lambda cls, items, info: unique_names(items, info.field_name))
    valid_hours = field_validator("hours")(lambda cls, hours: valid_hours(hours))


def unique_names(items: list | None, field: str) -> list | None:
    if items is not None:
        check_names(items, field)
    return items


def valid_hours(hours: str | None) -> str | None:
    """Hours that parse; '' (a PATCH's "always open") is kept as it is."""
    if hours:
        parse_hours(hours)
    return hours


class CameraPatch(BaseModel):
    """The fields a PATCH may change; those left out keep their value."""
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, min_length=1, max_length=2048)
    fps: float | None = Field(None, ge=0.01, le=30)
    transport: Literal["tcp", "udp"] | None = None
    loop: bool | None = None
    enabled: bool | None = None
    alerts: list[AlertRule] | None = None
    zones: list[Zone] | None = Field(None, max_length=32)
    lines: list[Line] | None = Field(None, max_length=16)
    hours: str | None = Field(None, max_length=500, description="'' = always open")

    unique_names = field_validator("zones", "lines")(lambda cls, items, info: unique_names(items, info.field_name))
    valid_hours = field_validator("hours")(lambda cls, hours: valid_hours(hours))


class CameraURLError(ValueError):
    """A URL the service will not open; the message says why."""


def check_url(url: str, allow_local: bool, hosts: list[str]) -> None:
    """Raise CameraURLError unless `url` is a stream URL this service may open (scheme, host allow-list)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as err:
        raise CameraURLError(f"not a valid URL: {err}") from None
    scheme = parts.scheme.lower()
    if scheme in LOCAL_SCHEMES:
        if not allow_local:
            raise CameraURLError(f"{scheme}:// sources are off (MASKWATCH_CAMERA_ALLOW_LOCAL=true turns them on)")
        if not parts.path:
            raise CameraURLError(f"a {scheme}:// URL needs a path, e.g. {scheme}:///path")
        return
    if scheme not in STREAM_SCHEMES:
        allowed = ", ".join(STREAM_SCHEMES + (LOCAL_SCHEMES if allow_local else ()))
        raise CameraURLError(f"scheme {parts.scheme or '(none)'!r} is not a stream scheme: one of {allowed}")
    if not parts.hostname:
        raise CameraURLError("the URL has no host")
    if hosts and not host_allowed(parts.hostname, hosts):
        raise CameraURLError(f"host {parts.hostname!r} is not in MASKWATCH_CAMERA_HOSTS")


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Whether `host` is named in `allowed`, or it (or every address it resolves to) lies in one of its networks."""
    names = {a.lower() for a in allowed if not _network(a)}
    networks = [n for a in allowed if (n := _network(a))]
    if host.lower() in names:
        return True
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, None)]
        except OSError:
            return False
    return bool(addresses) and all(any(a in n for n in networks) for a in addresses)


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def redact(url: str) -> str:
    """`url` without its credentials: user and password become ***, as do secret-looking query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return USERINFO.sub(r"\1***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = urlencode([(k, "***" if k.lower() in SECRET_QUERY_KEYS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)],
                      safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, url: str) -> str:
    """`text` (an error message, say) with `url` redacted and any other user:password@ removed."""
    return USERINFO.sub(r"\1***@", text.replace(url, redact(url)))


def read_cameras_file(path: Path) -> list[CameraSpec]:
    """The cameras of a YAML or TOML file: a top-level `cameras` list of CameraSpec fields. Raises ValueError
    naming the file and the entry."""
    text = path.read_text()
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {err}") from None
    entries = (data or {}).get("cameras", []) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a top-level 'cameras' list")
    cameras = []
    for i, entry in enumerate(entries):
        try:
            cameras.append(CameraSpec.model_validate(entry))
        except ValidationError as err:
            first = err.errors()[0]
            raise ValueError(f"{path}: cameras[{i}].{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    ids = [c.id for c in cameras]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: camera ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    return cameras
