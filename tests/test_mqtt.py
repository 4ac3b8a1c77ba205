"""MQTT against Debian's Mosquitto (tests/broker.py): Home Assistant discovery configs with the keys its schema
requires, each camera's state equal to the camera API's, alerts, a deleted camera's configs cleared, `offline`
on a clean stop, credentials kept out of logs. A broker killed and restarted mid-stream, on a known clip, is in
tests/test_replicas.py, with the database's restart."""
import json
import logging
import re
import time

import pytest
from fastapi.testclient import TestClient

from app.cameras.store import Counted
from app.main import create_app
from app.settings import Settings
from tests.broker import Listener, Mosquitto, needs_mosquitto
from tests.conftest import wait_for

pytestmark = needs_mosquitto
# Home Assistant's MQTT discovery: the keys each component's schema requires, and those a device and its
# availability need (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery)
REQUIRED = {"sensor": {"state_topic"}, "binary_sensor": {"state_topic"}}
EVERY = {"name", "unique_id", "device", "availability_topic", "value_template"}
TOPIC = re.compile(r"^homeassistant/(sensor|binary_sensor)/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/config$")


@pytest.fixture
def broker(tmp_path):
    server = Mosquitto(tmp_path)
    yield server
    server.kill()


def test_discovery_state_alerts_removal_and_offline(broker, tmp_path):
    listener = Listener(broker.port)
    url = broker.url.replace("mqtt://", "mqtt://shop:s3cret-pass@")  # the broker takes anyone; the password must show nowhere
    settings = Settings(mqtt_url=url, cameras_db=tmp_path / "c.db", heartbeat_s=0.2, alert_eval_s=0.2, replica_name="one")
    app = create_app(settings, load_models=False)  # which sets up logging: the handler comes after
    lines, handler = [], logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logging.getLogger("maskwatch").addHandler(handler)
    with TestClient(app) as client:
        spec = {"id": "door.1", "url": "rtsp://127.0.0.1:9/x", "alerts": [{"rule": "camera_down", "after_s": 0.5}],
                "zones": [{"name": "till", "polygon": [[0, 0], [1, 0], [1, 1]]}]}
        assert client.post("/v1/cameras", json=spec).status_code == 201
        minute = int(time.time() // 60)
        client.app.state.cameras.store.add_people([Counted("door.1", f"p{i}", minute, label, "till" if i else None)
                                                   for i, label in enumerate(("with_mask", "with_mask", "without_mask"))])
        state = wait_for(lambda: (s := json.loads(listener.last.get("maskwatch/cameras/door.1/state", "{}"))) and s["today"]["people"] == 3 and s,
                         10, "the state never carried the counts")
        api = client.get("/v1/cameras/door.1").json()
        assert state["today"] == api["today"] and state["compliance"] == round(100 * api["today"]["compliance"], 1)
        assert state["zones"] == api["zones"] and state["status"] == api["status"]
        configs = {t: json.loads(p) for t, p in listener.last.items() if t.startswith("homeassistant/") and p}
        assert len(configs) == 6  # compliance, four labels, the stream
        for topic, config in configs.items():
            component = TOPIC.match(topic)[1]
            assert REQUIRED[component] | EVERY <= set(config), topic
            assert config["state_topic"] == "maskwatch/cameras/door.1/state" and config["availability_topic"] == "maskwatch/availability"
            assert config["device"]["identifiers"] == ["maskwatch_door_1"]
        assert len({c["unique_id"] for c in configs.values()}) == 6 and listener.last["maskwatch/availability"] == "online"
        alert = wait_for(lambda: listener.last.get("maskwatch/cameras/door.1/alerts"), 10, "no alert on MQTT")
        assert json.loads(alert)["rule"] == "camera_down"
        assert client.delete("/v1/cameras/door.1").status_code == 204
        wait_for(lambda: all(listener.last[t] == "" for t in configs), 5, "the deleted camera's configs were not cleared")
    wait_for(lambda: listener.last["maskwatch/availability"] == "offline", 5, "no offline after a clean stop")
    listener.close()
    logging.getLogger("maskwatch").removeHandler(handler)
    text = "\n".join(lines)
    assert "s3cret-pass" not in text and "mqtt://***@127.0.0.1" in text
