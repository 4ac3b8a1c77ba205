"""Checks every camera's alert rules every MASKWATCH_ALERT_EVAL_S and sends each incident once: a rule fires
when it becomes breached, stays quiet while the breach lasts, and fires again only once it has cleared and
MASKWATCH_ALERT_COOLDOWN_S has passed since its last alert. Whether a rule fires and when it last sent are kept in
the database too, so that a camera handed to another replica does not alert again for the same incident. The
checks run off the event loop (they read counts from the database); while the database does not answer, the
low-compliance rules wait and camera_down alerts go on."""
import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.alerts.rules import CameraDown, LowCompliance, camera_down_breached, low_compliance_breached
from app.compliance import window_summary
from app.settings import Settings

log = logging.getLogger("maskwatch")


@dataclass
class CameraView:
    """What the sink needs of a camera, handed over by the camera side at each check."""
    camera: str
    rules: list
    enabled: bool
    status: str  # the reader's: up, reconnecting, unreachable, ...
    last_error: str | None
    counts: Callable[[int, int], dict]  # people by label first seen in [since_minute, until_minute)


class AlertMemory(Protocol):
    """Where alert state is shared (the camera store's database)."""
    def alert_states(self) -> dict[tuple[str, str], tuple[bool, float | None]]: ...

    def put_alert_state(self, camera: str, rule: str, firing: bool, last_sent: float | None) -> None: ...

    def log_alert(self, alert: dict, fired_at: float) -> None: ...


class AlertSink:
    def __init__(self, settings: Settings, cameras: Callable[[], Iterable[CameraView]], senders: list[Callable[[dict], None]],
                 store: Callable[[], AlertMemory] | None = None):
        """`senders` take each alert and never wait: the webhook's queue, MQTT."""
        self.settings, self.cameras, self.senders, self.store = settings, cameras, senders, store
        self.firing: set[tuple[str, str]] = set()
        self.last_sent: dict[tuple[str, str], float] = {}
        self.down_since: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            for alert in await asyncio.to_thread(self.check, time.time()):
                for send in self.senders:
                    send(alert)
            await asyncio.sleep(self.settings.alert_eval_s)

    def check(self, now: float) -> list[dict]:
        """The alerts to send now."""
        self._recall()
        alerts = []
        for view in self.cameras():
            self._track_down(view, now)
            if view.status == "closed":  # outside its opening hours no rule fires
                continue
            for rule in view.rules:
                key = (view.camera, rule.rule)
                try:
                    details = self._breach(view, rule, now)
                except Exception as err:  # the database: this rule waits for it
                    log.warning("alert %s for camera %s not checked: %s", rule.rule, view.camera, err)
                    continue
                if details is None and key in self.firing:
                    self.firing.discard(key)
                    self._remember(key)
                elif details is not None and key not in self.firing and now - self.last_sent.get(key, -1e18) >= self.settings.alert_cooldown_s:
                    self.firing.add(key)
                    self.last_sent[key] = now
                    self._remember(key)
                    alerts.append(self._alert(view.camera, rule, details, now))
                    self._log(alerts[-1], now)
        return alerts

    def _recall(self) -> None:
        """Take the shared state: another replica may have watched a camera until now."""
        if self.store is None:
            return
        try:
            states = self.store().alert_states()
        except Exception as err:
            log.warning("alert state not read from the database (this replica's is used): %s", err)
            return
        self.firing = {key for key, (firing, _) in states.items() if firing}
        self.last_sent = {key: sent for key, (_, sent) in states.items() if sent is not None}

    def _log(self, alert: dict, now: float) -> None:
        """Keep the alert for the daily reports."""
        if self.store is None:
            return
        try:
            self.store().log_alert(alert, now)
        except Exception as err:
            log.warning("alert %s for camera %s not kept for the reports: %s", alert["rule"], alert["camera"], err)

    def _remember(self, key: tuple[str, str]) -> None:
        if self.store is None:
            return
        try:
            self.store().put_alert_state(*key, key in self.firing, self.last_sent.get(key))
        except Exception as err:
            log.warning("alert state of %s not written to the database: %s", key, err)

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
