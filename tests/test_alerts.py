"""The built-in alert webhook: rules, signed delivery, retries against a receiver that is down or slow, one alert
per incident, and end to end from a camera watching unmasked people to a receiver that checks the signature."""
import asyncio
import hashlib
import hmac
import json
import shutil
import time
from types import SimpleNamespace

import httpx
import pytest

from app import metrics
from app.alerts.rules import CameraDown, LowCompliance, camera_down_breached, low_compliance_breached
from app.alerts.sink import AlertSink, CameraView
from app.alerts.webhook import SIGNATURE_HEADER, Webhook, sign
from app.cameras.config import CameraSpec
from app.cameras.store import CameraStore
from app.compliance import window_summary as with_compliance
from app.settings import Settings
from bench.streams import clips
from tests.conftest import WebhookReceiver, free_port, maskwatch, wait_for

SECRET = "shared-secret"


def received(receiver: WebhookReceiver) -> list[tuple[dict, bool]]:
    """Each alert the receiver got, and whether its signature checks out with SECRET."""
    out = []
    for body, headers in receiver.posts:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        out.append((json.loads(body), hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER, ""))))
    return out


def counted(result: str) -> float:
    return metrics.ALERTS.labels(result=result)._value.get()


def test_rules():
    rule = LowCompliance(rule="low_compliance", below=0.7, window_minutes=10, min_people=5)
    counts = lambda w, wo, u=0: with_compliance({"with_mask": w, "without_mask": wo, "mask_worn_incorrectly": 0, "uncertain": u})  # noqa: E731
    assert low_compliance_breached(rule, counts(3, 3))
    assert not low_compliance_breached(rule, counts(1, 3))  # 4 people: too few to judge
    assert not low_compliance_breached(rule, counts(8, 2))  # compliance 0.8
    assert not low_compliance_breached(rule, counts(0, 0, 9))  # only uncertain people
    down = CameraDown(rule="camera_down", after_s=60)
    assert camera_down_breached(down, 100.0, 161.0) and not camera_down_breached(down, 100.0, 130.0) and not camera_down_breached(down, None, 1e9)


def test_signature_is_hmac_sha256_of_the_body():
    assert sign(b'{"a": 1}', "k") == "sha256=" + hmac.new(b"k", b'{"a": 1}', hashlib.sha256).hexdigest()


def deliver(url: str, timeout_s: float = 2.0) -> bool:
    async def scenario():
        webhook = Webhook(url, SECRET, timeout_s=timeout_s, retries=2, backoff_s=0.05)
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            return await webhook.deliver(client, {"camera": "door", "rule": "camera_down"})
    return asyncio.run(scenario())


def test_a_receiver_that_is_down_costs_retries_then_a_counted_failure():
    failed, retried = counted("failed"), counted("retried")
    assert not deliver(f"http://127.0.0.1:{free_port()}/hook")
    assert counted("failed") == failed + 1 and counted("retried") == retried + 2


def test_a_slow_receiver_times_out_and_is_retried():
    receiver = WebhookReceiver(delay_s=1.0)
    try:
        failed = counted("failed")
        assert not deliver(receiver.url, timeout_s=0.2)
        assert counted("failed") == failed + 1
        wait_for(lambda: len(receiver.posts) == 3, 5, "every try should have reached the receiver")
    finally:
        receiver.close()


def test_send_never_waits_and_a_full_queue_drops():
    async def scenario():
        webhook = Webhook("http://127.0.0.1:9/hook", None, max_queue=2)
        dropped = counted("dropped")
        start = time.perf_counter()
        for _ in range(5):
            webhook.send({"camera": "door", "rule": "camera_down"})
        return time.perf_counter() - start, counted("dropped") - dropped
    took, dropped = asyncio.run(scenario())
    assert took < 0.05 and dropped == 3


def test_one_incident_is_one_alert_until_it_clears_and_the_cooldown_passes_on_any_replica(database):
    spec = CameraSpec(id="door", url="rtsp://h/x", alerts=[{"rule": "camera_down", "after_s": 10}])
    reader = SimpleNamespace(status="reconnecting", last_error="ConnectionRefusedError")
    views = lambda: [CameraView(spec.id, spec.alerts, spec.enabled, reader.status, reader.last_error, None)]  # noqa: E731
    settings, store, sent = Settings(alert_cooldown_s=100, public_url="http://shop:8000"), CameraStore(database), []
    first = AlertSink(settings, views, [], lambda: store)
    for now in (0, 5, 11):  # down from 0: breached from 10 s on, one alert
        sent += first.check(now)
    sink = AlertSink(settings, views, [], lambda: store)  # the camera handed to another replica: the same incident
    for now in (20, 40):
        sent += sink.check(now)
    assert len(sent) == 1 and sent[0]["rule"] == "camera_down" and sent[0]["down_s"] == 11
    assert sent[0]["snapshot"] == "http://shop:8000/v1/cameras/door/snapshot"
    reader.status = "up"
    sent += sink.check(50)  # cleared
    reader.status = "reconnecting"
    sent += sink.check(60)
    sent += sink.check(75)  # breached again, but within the cooldown of the first alert
    assert len(sent) == 1
    sent += sink.check(120)  # still breached, the cooldown over: a new incident
    assert len(sent) == 2
    store.close()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_unmasked_people_send_one_signed_alert(tmp_path):
    clip = clips.encode(clips.people_frames(groups=(0,), gap_s=2.0, lead_s=0), tmp_path / "unmasked.mp4")
    (tmp_path / "cameras.yaml").write_text(
        f"cameras:\n  - id: door\n    url: {clip.as_uri()}\n    fps: 5\n    loop: true\n"
        "    alerts: [{rule: low_compliance, below: 0.7, window_minutes: 1, min_people: 3}]\n")
    receiver = WebhookReceiver()
    try:
        with maskwatch(tmp_path, MASKWATCH_CAMERAS_FILE=str(tmp_path / "cameras.yaml"), MASKWATCH_ALERT_WEBHOOK=receiver.url,
                       MASKWATCH_ALERT_SECRET=SECRET, MASKWATCH_ALERT_EVAL_S="0.5", MASKWATCH_PUBLIC_URL="http://shop:8000") as (client, _, _):
            wait_for(lambda: receiver.posts, 60, "no alert arrived")
            time.sleep(3)  # more people are counted meanwhile: still one incident
            assert 'maskwatch_alerts_total{result="delivered"} 1.0' in client.get("/metrics").text
        (alert, signed), = received(receiver)
        assert signed and alert["camera"] == "door" and alert["rule"] == "low_compliance" and alert["window_minutes"] == 1
        assert alert["counts"]["people"] >= 3 and alert["counts"]["compliance"] == 0.0
        assert alert["snapshot"] == "http://shop:8000/v1/cameras/door/snapshot"
    finally:
        receiver.close()
