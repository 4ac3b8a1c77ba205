"""MaskWatch on MQTT (MASKWATCH_MQTT_URL), for Home Assistant and whatever else a site runs, through paho-mqtt:

- `{prefix}/availability`: `online`, retained, with a last will of `offline`; a clean stop publishes `offline`;
- `{prefix}/cameras/{id}/state`: retained JSON of a camera's status, people in view, today's people by label,
  compliance (%) and zones, published by the replica watching it when it changes and at least every minute;
- `{prefix}/cameras/{id}/alerts`: each alert, the webhook's payload;
- Home Assistant discovery under `{discovery}/`: retained configs of a device per camera, with compliance and
  today's people by label as sensors and the stream as a binary_sensor; a deleted camera's are cleared.

paho's network thread connects and reconnects with backoff on its own; nothing here waits for the broker.
Retained messages are kept and published again on every connection; alerts wait in a bounded queue while the
broker is away, and those beyond it are dropped and counted. The URL's credentials are never logged."""
import json
import logging
import re
import threading
from collections import deque
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from app import __version__, metrics
from app.cameras.config import redact
from app.compliance import LABELS
from app.settings import Settings

log = logging.getLogger("maskwatch")
STATE_EVERY_S = 60  # a camera's state is published at least this often, changed or not
NAMES = {"with_mask": "with mask", "without_mask": "without mask", "mask_worn_incorrectly": "mask worn incorrectly", "uncertain": "uncertain"}


def object_id(camera: str) -> str:
    """The camera's id as Home Assistant's discovery topics allow it (letters, digits, _ and -)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", camera)


class MQTT:
    def __init__(self, settings: Settings):
        url = urlsplit(settings.mqtt_url.get_secret_value())
        if url.scheme not in ("mqtt", "mqtts") or not url.hostname:
            raise ValueError("MASKWATCH_MQTT_URL: expected mqtt://[user:password@]host:port or mqtts://...")  # never the URL: it may hold a password
        self.host, self.port, self.shown = url.hostname or "localhost", url.port or (8883 if url.scheme == "mqtts" else 1883), redact(url.geturl())
        self.prefix, self.discovery = settings.mqtt_prefix.rstrip("/"), settings.mqtt_discovery_prefix.rstrip("/")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"maskwatch-{settings.replica_name}")
        if url.username:
            self.client.username_pw_set(unquote(url.username), unquote(url.password or ""))
        if url.scheme == "mqtts":
            self.client.tls_set(ca_certs=str(settings.mqtt_ca) if settings.mqtt_ca else None)
        self.client.will_set(self.availability, "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect, self.client.on_disconnect = self._connected, self._disconnected
        self.lock = threading.Lock()
        self.retained: dict[str, str] = {}  # what a new connection publishes again
        self.waiting: deque[tuple[str, str]] = deque()
        self.size = settings.mqtt_queue
        self.sent_at: dict[str, float] = {}  # camera: when its state was last published

    @property
    def availability(self) -> str:
        return f"{self.prefix}/availability"

    def start(self) -> None:
        self.client.connect_async(self.host, self.port)
        self.client.loop_start()

    def stop(self) -> None:
        """A clean stop: `offline`, then disconnect (the broker keeps the last will for a lost connection only)."""
        if self.client.is_connected():
            self.client.publish(self.availability, "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def _connected(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            log.warning("MQTT %s refused the connection: %s", self.shown, reason)
            return
        log.info("MQTT: connected to %s", self.shown)
        metrics.MQTT_CONNECTED.set(1)
        with self.lock:
            retained, waiting = {self.availability: "online", **self.retained}, list(self.waiting)
            self.waiting.clear()
        for topic, payload in retained.items():
            self._send(topic, payload, True)
        for topic, payload in waiting:
            self._send(topic, payload, False)

    def _disconnected(self, client, userdata, flags, reason, properties) -> None:
        metrics.MQTT_CONNECTED.set(0)
        log.warning("MQTT: lost %s (%s); reconnecting", self.shown, reason)

    def _send(self, topic: str, payload: str, retain: bool) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)
        metrics.MQTT_MESSAGES.labels(result="published").inc()

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        """Never waits. Retained payloads ('' clears one) are kept for the next connection; others wait while the broker is away."""
        with self.lock:
            if retain and payload:
                self.retained[topic] = payload
            elif retain:
                self.retained.pop(topic, None)
            connected = self.client.is_connected()
            if not connected and not retain:
                if len(self.waiting) >= self.size:
                    metrics.MQTT_MESSAGES.labels(result="dropped").inc()
                    return
                self.waiting.append((topic, payload))
        if connected:
            self._send(topic, payload, retain)

    def camera(self, camera: str, state: dict, now: float) -> None:
        """A watched camera's discovery configs, and its state when it changed or a minute has passed."""
        for topic, config in self.configs(camera).items():
            payload = json.dumps(config)
            if self.retained.get(topic) != payload:
                self.publish(topic, payload, retain=True)
        topic, payload = f"{self.prefix}/cameras/{camera}/state", json.dumps(state)
        if self.retained.get(topic) != payload or now - self.sent_at.get(camera, 0) >= STATE_EVERY_S:
            self.sent_at[camera] = now
            self.publish(topic, payload, retain=True)
            if now - self.sent_at.get("", 0) >= STATE_EVERY_S:  # replicas share the availability topic: each says it is up
                self.sent_at[""] = now
                self.publish(self.availability, "online", retain=True)

    def forget(self, camera: str) -> None:
        """A deleted camera: its discovery configs and state cleared (empty retained payloads)."""
        for topic in [*self.configs(camera), f"{self.prefix}/cameras/{camera}/state"]:
            self.publish(topic, "", retain=True)
        self.sent_at.pop(camera, None)

    def alert(self, alert: dict) -> None:
        self.publish(f"{self.prefix}/cameras/{alert['camera']}/alerts", json.dumps(alert))

    def configs(self, camera: str) -> dict[str, dict]:
        """Home Assistant's discovery configs of the camera's device, by topic."""
        node = f"maskwatch_{object_id(camera)}"
        common = {"state_topic": f"{self.prefix}/cameras/{camera}/state", "availability_topic": self.availability,
                  "device": {"identifiers": [node], "name": f"MaskWatch {camera}", "manufacturer": "MaskWatch", "model": "camera",
                             "sw_version": __version__}}
        sensors = {"compliance": {"name": "Compliance", "value_template": "{{ value_json.compliance }}", "unit_of_measurement": "%",
                                  "state_class": "measurement", "icon": "mdi:face-mask"}}
        for label in LABELS:
            sensors[label] = {"name": f"People today, {NAMES[label]}", "value_template": f"{{{{ value_json.today.{label} }}}}",
                              "state_class": "total_increasing", "icon": "mdi:account-group"}
        configs = {f"{self.discovery}/sensor/{node}/{key}/config": {**common, **sensor, "unique_id": f"{node}_{key}"}
                   for key, sensor in sensors.items()}
        configs[f"{self.discovery}/binary_sensor/{node}/stream/config"] = {
            **common, "name": "Stream", "unique_id": f"{node}_stream", "device_class": "connectivity",
            "value_template": "{{ 'ON' if value_json.status == 'up' else 'OFF' }}"}
        return configs


def camera_state(live: dict, today: dict) -> dict:
    """What `{prefix}/cameras/{id}/state` carries: compliance in %, null when nobody was counted today."""
    compliance = today["today"]["compliance"]
    return {"status": live["status"], "people_in_view": live["people_in_view"], "today": today["today"],
            "compliance": None if compliance is None else round(100 * compliance, 1), "zones": today["zones"]}
