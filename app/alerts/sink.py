"""Checks every camera's alert rules every MASKWATCH_ALERT_EVAL_S and sends each incident once: a rule fires
when it becomes breached, stays quiet while the breach lasts, and fires again only once it has cleared and
MASKWATCH_ALERT_COOLDOWN_S has passed since its last alert."""
import asyncio
import time
from datetime import datetime

from app.alerts.rules import CameraDown, LowCompliance, camera_down_breached, low_compliance_breached
from app.alerts.webhook import Webhook
from app.cameras.manager import CameraManager
from app.cameras.watcher import CameraWatcher, with_compliance
from app.settings import Settings


class AlertSink:
    def __init__(self, settings: Settings, cameras: CameraManager, webhook: Webhook):
        self.settings, self.cameras, self.webhook = settings, cameras, webhook
        self.firing: set[tuple[str, str]] = set()
        self.last_sent: dict[tuple[str, str], float] = {}
        self.down_since: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            self.check(time.time())
            await asyncio.sleep(self.settings.alert_eval_s)

    def check(self, now: float) -> None:
        for watcher in list(self.cameras.watchers.values()):
            self._track_down(watcher, now)
            for rule in watcher.spec.alerts:
                key = (watcher.spec.id, rule.rule)
                details = self._breach(watcher, rule, now)
                if details is None:
                    self.firing.discard(key)
                elif key not in self.firing and now - self.last_sent.get(key, -1e18) >= self.settings.alert_cooldown_s:
                    self.firing.add(key)
                    self.last_sent[key] = now
                    self.webhook.send(self._alert(watcher, rule, details, now))

    def _track_down(self, watcher: CameraWatcher, now: float) -> None:
        camera = watcher.spec.id
        if watcher.reader.status == "up" or not watcher.spec.enabled:
            self.down_since.pop(camera, None)
        else:
            self.down_since.setdefault(camera, now)

    def _breach(self, watcher: CameraWatcher, rule, now: float) -> dict | None:
        """What the alert says, when `rule` is breached now; None when it is not."""
        if isinstance(rule, LowCompliance):
            minute = int(now // 60)
            counts = with_compliance(watcher.store.counts(watcher.spec.id, minute - rule.window_minutes + 1, minute + 1))
            return {"window_minutes": rule.window_minutes, "counts": counts} if low_compliance_breached(rule, counts) else None
        if isinstance(rule, CameraDown):
            since = self.down_since.get(watcher.spec.id)
            if camera_down_breached(rule, since, now):
                return {"down_s": round(now - since, 1), "status": watcher.reader.status, "last_error": watcher.reader.last_error}
        return None

    def _alert(self, watcher: CameraWatcher, rule, details: dict, now: float) -> dict:
        camera = watcher.spec.id
        return {"camera": camera, "rule": rule.rule, "rule_settings": rule.model_dump(), **details,
                "fired_at": datetime.fromtimestamp(now).astimezone().isoformat(),
                "snapshot": f"{self.settings.public_url.rstrip('/')}/v1/cameras/{camera}/snapshot"}
