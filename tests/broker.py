"""Debian's Mosquitto broker for the MQTT tests, on a free port, and a listener that keeps every message it gets
(retained ones included), reconnecting on its own when the broker comes back."""
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from bench.ports import free_port

needs_mosquitto = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs Debian's mosquitto (.ci/run installs it)")


class Mosquitto:
    def __init__(self, folder: Path):
        self.port, self.conf = free_port(), folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Listener:
    """Subscribed to `topics`; `messages` keeps (topic, payload, retained) in order, `last` the newest payload per topic."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("homeassistant/#", "maskwatch/#")):
        self.messages: list[tuple[str, str, bool]] = []
        self.last: dict[str, str] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda client, *_: [client.subscribe(t, qos=1) for t in topics]
        self.client.on_message = self._got
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _got(self, client, userdata, message) -> None:
        with self.lock:
            payload = message.payload.decode()
            self.messages.append((message.topic, payload, bool(message.retain)))
            self.last[message.topic] = payload

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
