"""Daily reports on both databases: the JSON's and the CSV's counts equal /stats' to the person, hour by hour in
the site's zone, with zones, lines, alerts and time down; the PDF renders to a PNG with Debian's pdftoppm; bad
input is a 422 naming the field."""
import csv
import io
import shutil
import subprocess
import time
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from app.cameras.hours import today_start
from app.cameras.store import Counted
from app.main import create_app
from app.settings import Settings

DOOR = {"id": "door", "url": "rtsp://127.0.0.1:9/nothing", "enabled": False,
        "zones": [{"name": "till", "polygon": [[0, 0], [1, 0], [1, 1]]}], "lines": [{"name": "entrance", "from": [0.5, 0], "to": [0.5, 1]}]}


@pytest.fixture
def client(store_settings):
    app = create_app(Settings(api_keys=["k:viewer", "a:admin"], timezone="Europe/Berlin", **store_settings), load_models=False)
    with TestClient(app, headers={"X-API-Key": "a"}) as client:
        assert client.post("/v1/cameras", json=DOOR).status_code == 201
        assert client.post("/v1/cameras", json={"id": "yard", "url": "rtsp://127.0.0.1:9/x", "enabled": False}).status_code == 201
        yield client


def fill(client) -> int:
    """People at three minutes of today (Berlin): returns today's local midnight, in minutes."""
    store, zone = client.app.state.cameras.store, Settings(timezone="Europe/Berlin").zone
    midnight = int(today_start(zone, time.time()) // 60)
    now = int(time.time() // 60)
    minutes = sorted({midnight, midnight + min(61, now - midnight), now})
    rows = [Counted("door", f"p{i}", m, label, "till" if i % 2 else None, (("entrance", "in"),) if i % 3 == 0 else ())
            for i, (m, label) in enumerate((m, label) for m in minutes for label in ("with_mask", "without_mask", "with_mask", "uncertain"))]
    store.add_people(rows)
    store.log_alert({"camera": "door", "rule": "low_compliance"}, time.time() - 5)
    store.mark_down("door", True, time.time() - 60)
    store.mark_down("door", False, time.time() - 30)
    return midnight


def test_the_report_agrees_with_stats_to_the_person(client):
    midnight = fill(client)
    day = datetime.now(Settings(timezone="Europe/Berlin").zone).date()
    report = client.get("/v1/reports/daily", params={"date": day.isoformat()}, headers={"X-API-Key": "k"}).json()
    door = {c["camera"]: c for c in report["cameras"]}["door"]
    until = report["until"]
    stats = client.get("/v1/cameras/door/stats", params={"since": midnight * 60, "until": until, "bucket": "1h"}).json()
    assert door["total"] == stats["total"] and [{k: v for k, v in h.items() if k != "hour"} for h in door["hours"]] == \
        [{k: v for k, v in b.items() if k != "start"} for b in stats["series"]]
    assert len(door["hours"]) in (23, 24, 25) and report["timezone"] == "Europe/Berlin"
    zone = client.get("/v1/cameras/door/stats", params={"since": midnight * 60, "until": until, "bucket": "1h", "zone": "till"}).json()
    assert door["zones"]["till"]["total"] == zone["total"] and door["lines"]["entrance"] == stats["lines"]["entrance"]
    assert [a["rule"] for a in door["alerts"]] == ["low_compliance"] and 29 <= door["down_s"] <= 31
    table = list(csv.DictReader(io.StringIO(client.get("/v1/reports/daily", params={"format": "csv"}).text)))
    assert list(table[0]) == ["camera", "zone", "hour", "with_mask", "without_mask", "mask_worn_incorrectly", "uncertain", "people", "compliance"]
    for zone_name, expected in (("", stats["total"]), ("till", zone["total"])):
        rows = [r for r in table if r["camera"] == "door" and r["zone"] == zone_name]
        assert {k: sum(int(r[k]) for r in rows) for k in ("with_mask", "without_mask", "uncertain", "people")} == \
            {k: expected[k] for k in ("with_mask", "without_mask", "uncertain", "people")}
    only = client.get("/v1/reports/daily", params={"cameras": "yard"}).json()
    assert [c["camera"] for c in only["cameras"]] == ["yard"] and only["cameras"][0]["total"]["people"] == 0


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs Debian's poppler-utils (.ci/run installs it)")
def test_the_pdf_renders_to_a_png(client, tmp_path):
    fill(client)
    response = client.get("/v1/reports/daily", params={"format": "pdf"})
    assert response.headers["content-type"] == "application/pdf" and response.content.startswith(b"%PDF")
    (tmp_path / "report.pdf").write_bytes(response.content)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(tmp_path / "report.pdf"), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 3 and all(p.stat().st_size > 2000 for p in pages)  # the summary, then a page per camera


def test_bad_input_is_a_422_naming_the_field(client):
    tomorrow = (datetime.now(Settings(timezone="Europe/Berlin").zone).date() + timedelta(days=1)).isoformat()
    for params, field in (({"date": "2026-13-01"}, "date"), ({"date": "yesterday"}, "date"), ({"date": tomorrow}, "date"),
                          ({"cameras": "door,nowhere"}, "cameras"), ({"format": "xlsx"}, "format")):
        response = client.get("/v1/reports/daily", params=params)
        assert response.status_code == 422 and response.json()["error"]["message"].startswith(f"{field}:"), (params, response.text)
