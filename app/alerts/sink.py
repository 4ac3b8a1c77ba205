"""Checks every camera's alert rules every MASKWATCH_ALERT_EVAL_S and sends each incident once: a rule fires
when it becomes breached, stays quiet while the breach lasts, and fires again only once it has cleared and
MASKWATCH_ALERT_COOLDOWN_S has passed since its last alert."""
import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from app.alerts.rules import CameraDown, LowCompliance, camera_down_breached, low_compliance_breached
from app.alerts.webhook import Webhook
from app.compliance import window_summary
from app.settings import Settings


@dataclass
class CameraView:
    """What the sink needs of a camera, handed over by the camera side at each check."""
    camera: str
    rules: list
    enabled: bool
    status: str  # the reader's: up, reconnecting, unreachable, ...
    last_error: str | None
    counts: Callable[[int, int], dict]  # people by label first seen in [since_minute, until_minute)


class AlertSink:
    def __init__(self, settings: Settings, cameras: Callable[[], Iterable[CameraView]], webhook: Webhook):
        self.settings, self.cameras, self.webhook = settings, cameras, webhook
        self.firing: set[tuple[str, str]] = set()
        self.last_sent: dict[tuple[str, str], float] = {}
        self.down_since: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            self.check(time.time())
            await asyncio.sleep(self.settings.alert_eval_s)

    def check(self, now: float) -> None:
        for view in self.cameras():
            self._track_down(view, now)
            if view.status == "closed":  # outside its opening hours no rule fires
                continue
            for rule in view.rules:
                key = (view.camera, rule.rule)
                details = self._breach(view, rule, now)
                if details is None:
                    self.firing.discard(key)
                elif key not in self.firing and now - self.last_sent.get(key, -1e18) >= self.settings.alert_cooldown_s:
                    self.firing.add(key)
                    self.last_sent[key] = now
                    self.webhook.send(self._alert(view.camera, rule, details, now))

    def _track_down(self, view: CameraView, now: float) -> None:
        if view.status == "up" or not view.enabled:
            self.down_since.pop(view.camera, None)
        else:
            self.down_since.setdefault(view.camera, now)

    def _breach(self, view: CameraView, rule, now: float) -> dict | None:
        """What the alert says, when `rule` is breached now; None when it is not."""
        if isinstance(rule, LowCompliance):
            minute = int(now // 60)
            counts = window_summary(view.counts(minute - rule.window_minutes + 1, minute + 1))
            return {"window_minutes": rule.window_minutes, "counts": counts} if low_compliance_breached(rule, counts) else None
        if isinstance(rule, CameraDown):
            since = self.down_since.get(view.camera)
            if camera_down_breached(rule, since, now):
                return {"down_s": round(now - since, 1), "status": view.status, "last_error": view.last_error}
        return None

    def _alert(self, camera: str, rule, details: dict, now: float) -> dict:
        return {"camera": camera, "rule": rule.rule, "rule_settings": rule.model_dump(), **details,
                "fired_at": datetime.fromtimestamp(now).astimezone().isoformat(),
                "snapshot": f"{self.settings.public_url.rstrip('/')}/v1/cameras/{camera}/snapshot"}
