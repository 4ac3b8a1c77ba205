"""An alert end to end with the real parts: the service watches a clip in which nobody wears a mask properly, a
real Prometheus (Debian's) scrapes it and evaluates the shipped rules of deploy/alerts.yml (their windows and
`for` shortened so the test takes seconds, the expressions unchanged), and a real Alertmanager (Debian's
prometheus-alertmanager) delivers the alert to a webhook receiver of the test's own.

It is long (about 20 s) for what it waits on, not what it computes: the rule needs five people counted, two showings
of the looped clip, each person counted when they leave; then a scrape, a rule evaluation and Alertmanager's
group_wait, a second each."""
import json
import re
import shutil
import subprocess

import pytest
import yaml

from bench.streams import clips
from tests.conftest import ROOT, WebhookReceiver, free_port, maskwatch, wait_for

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("prometheus", "prometheus-alertmanager", "ffmpeg")),
                                reason="needs Debian's prometheus and prometheus-alertmanager, and ffmpeg (.ci/run installs them)")


def fast_rules() -> str:
    """deploy/alerts.yml with every range and `for` shortened, so that it fires within seconds."""
    text = (ROOT / "deploy" / "alerts.yml").read_text()
    return re.sub(r"for: \d+m", "for: 1s", re.sub(r"\[\d+m\]", "[1m]", text))


def alerts(receiver: WebhookReceiver) -> list[dict]:
    return [alert for body, _ in receiver.posts for alert in json.loads(body)["alerts"]]


def test_low_compliance_reaches_a_webhook_through_alertmanager(tmp_path):
    clip = clips.encode(clips.people_frames(groups=(0,), gap_s=2.0, lead_s=0), tmp_path / "unmasked.mp4")
    receiver = WebhookReceiver()
    am_port, prom_port = free_port(), free_port()
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "hook", "group_by": ["alertname", "camera"], "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": receiver.url}]}]}))
    (tmp_path / "alerts.yml").write_text(fast_rules())
    with maskwatch(tmp_path) as (client, _, _):
        port = client.base_url.port
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "rule_files": [str(tmp_path / "alerts.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "maskwatch", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]}))
        parts = [subprocess.Popen(["prometheus-alertmanager", f"--config.file={tmp_path / 'alertmanager.yml'}",
                                   f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
                                   "--cluster.listen-address="], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                 subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        try:
            assert client.post("/v1/cameras", json={"id": "door", "url": clip.as_uri(), "fps": 5, "loop": True}).status_code == 201
            wait_for(lambda: any(a["labels"]["alertname"] == "MaskWatchLowCompliance" for a in alerts(receiver)), 90,
                     "Alertmanager delivered no low-compliance alert")
        finally:
            for part in parts:
                part.terminate()
                part.wait(timeout=20)
            receiver.close()
    alert = next(a for a in alerts(receiver) if a["labels"]["alertname"] == "MaskWatchLowCompliance")
    assert alert["status"] == "firing" and alert["labels"]["camera"] == "door" and alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["summary"].startswith("Camera door: 100% of people")
