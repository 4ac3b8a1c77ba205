"""The try-it page at / in a real headless browser (Debian's chromium driven by Playwright).

Skips where Playwright or chromium is missing; `.ci/run` installs both. To refresh the README's screenshots:
    MASKWATCH_SCREENSHOT=docs/page.png MASKWATCH_CAMERAS_SCREENSHOT=docs/cameras.png MASKWATCH_SITE_SCREENSHOT=docs/site.png \
        .venv/bin/python -m pytest tests/test_page.py
"""
import os
import shutil

import httpx
import pytest

from bench.streams import clips
from bench.streams.mjpeg_server import MJPEGServer
from tests.conftest import VOC_DIR, maskwatch, running_server

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH")
IMAGE = VOC_DIR / "images" / "maksssksksss145.png"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_the_page_lists_the_faces_the_api_finds(server, browser, tmp_path):
    base, _ = server
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    requests_elsewhere = []
    page.on("request", lambda r: None if r.url.startswith(base) or r.url.startswith("data:") else requests_elsewhere.append(r.url))
    page.goto(base + "/")
    page.wait_for_function("document.getElementById('min-confidence').value !== ''")  # defaults read from /v1/info
    assert page.locator("#key-field").is_hidden()  # keys are off
    page.set_input_files("#file", str(IMAGE))
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    rows = page.locator("#faces tr").all()
    shown = [[cell.inner_text() for cell in row.locator("td").all()] for row in rows]
    api = httpx.post(base + "/v1/classify", files={"image": (IMAGE.name, IMAGE.read_bytes())}, timeout=30).json()
    assert len(shown) == len(api["faces"]) > 0
    for cells, face in zip(shown, api["faces"]):
        assert cells[1] == face["label"].replace("_", " ")
        assert cells[2] == f"{face['confidence']:.3f}"
        # one decimal, rounded by JavaScript: 200.25 shows as 200.3 where Python's format writes 200.2
        assert [float(v) for v in cells[3].split(", ")] == pytest.approx(face["box"], abs=0.051)
    assert f"{api['summary']['faces']} face(s)" in page.inner_text("#summary")
    assert page.evaluate("document.getElementById('annotated').naturalWidth") == api["image"]["width"]
    assert requests_elsewhere == []  # nothing fetched from another host
    screenshot = os.environ.get("MASKWATCH_SCREENSHOT") or str(tmp_path / "page.png")
    page.screenshot(path=screenshot, full_page=True)
    assert os.path.getsize(screenshot) > 10_000


def test_the_page_shows_an_api_error(server, browser, tmp_path):
    base, _ = server
    page = browser.new_page()
    page.goto(base + "/")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    page.set_input_files("#file", str(junk))
    page.click("#submit")
    page.wait_for_selector("#status.error", timeout=30_000)
    assert "415" in page.inner_text("#status") and page.locator("#result").is_hidden()


def test_the_page_asks_for_the_key_when_keys_are_on(browser):
    with running_server({"MASKWATCH_API_KEYS": "page-secret"}) as (base, _):
        page = browser.new_page()
        page.goto(base + "/")
        page.wait_for_selector("#key-field:not([hidden])")
        page.set_input_files("#file", str(IMAGE))
        page.click("#submit")
        page.wait_for_selector("#status.error")
        assert "401" in page.inner_text("#status")
        page.fill("#api-key", "page-secret")
        page.click("#submit")
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        assert page.locator("#faces tr").count() > 0


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_the_cameras_view_shows_state_snapshot_counts_and_chart(browser, tmp_path):
    clip = clips.people_clip(tmp_path / "people.mp4")
    with maskwatch(tmp_path) as (client, _, _):
        assert client.post("/v1/cameras", json={"id": "door", "url": clip.as_uri(), "fps": 5, "loop": True}).status_code == 201
        base = str(client.base_url)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        requests_elsewhere = []
        page.on("request", lambda r: None if r.url.startswith(base) or r.url.startswith(("data:", "blob:")) else requests_elsewhere.append(r.url))
        page.goto(base + "/")
        page.wait_for_selector("#cameras:not([hidden]) #camera-door .cam-status.state-up", timeout=30_000)
        page.wait_for_function("document.querySelector('#camera-door img').naturalWidth === 640", timeout=30_000)
        page.wait_for_function("/Today: [1-9]/.test(document.querySelector('#camera-door .cam-today').textContent)", timeout=60_000)
        assert page.locator("#camera-door .cam-chart canvas").count() == 1  # uPlot drew the compliance chart
        today = client.get("/v1/cameras/door").json()["today"]
        shown = page.inner_text("#camera-door .cam-today")
        assert shown.startswith("Today: ") and "with mask" in shown and today["people"] >= int(shown.split()[1])
        assert requests_elsewhere == []  # the chart library comes from this server
        screenshot = os.environ.get("MASKWATCH_CAMERAS_SCREENSHOT") or str(tmp_path / "cameras.png")
        page.locator("#cameras").screenshot(path=screenshot)
        assert os.path.getsize(screenshot) > 10_000
        with page.expect_download() as download:  # the card's Report: the day's PDF, for the day picked
            page.click("#camera-door .cam-report[data-format=pdf]")
        assert download.value.suggested_filename.startswith("maskwatch-door-") and open(download.value.path(), "rb").read(4) == b"%PDF"


def test_the_page_adds_a_camera_draws_a_zone_and_a_line_and_keeps_them(browser, tmp_path):
    camera = MJPEGServer(clips.people_frames(), clips.FPS)  # an HTTP camera, sending its clip over and over
    with maskwatch(tmp_path, MASKWATCH_API_KEYS="admin-key:admin") as (client, _, _):
        base = str(client.base_url)
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        page.goto(base + "/")
        page.wait_for_selector("#key-field:not([hidden])")
        page.fill("#api-key", "admin-key")
        page.dispatch_event("#api-key", "change")
        page.wait_for_selector("#cameras:not([hidden])")
        page.fill("#new-id", "door")
        page.fill("#new-url", camera.url)
        page.fill("#new-fps", "5")
        page.click("#add-camera")
        page.wait_for_function("document.querySelector('#camera-door img') && document.querySelector('#camera-door img').naturalWidth === 640",
                               timeout=30_000)
        canvas = page.locator("#camera-door canvas.cam-draw")
        box = canvas.bounding_box()
        page.fill("#camera-door .draw-name", "left")
        page.click("#camera-door [data-draw=zone]")
        for x, y in ((0.05, 0.05), (0.5, 0.05), (0.5, 0.95), (0.05, 0.95)):
            canvas.click(position={"x": x * box["width"], "y": y * box["height"]})
        page.click("#camera-door .draw-finish")
        page.fill("#camera-door .draw-name", "door")
        page.click("#camera-door [data-draw=line]")
        for x, y in ((0.75, 0.0), (0.75, 0.99)):
            canvas.click(position={"x": x * box["width"], "y": y * box["height"]})
        page.click("#camera-door .regions-save")
        page.wait_for_function("/saved/.test(document.querySelector('#camera-door .cam-message').textContent)")
        page.reload()  # the key is kept for the session: the cameras load again without asking
        page.wait_for_selector("#camera-door .cam-regions tr", timeout=30_000)
        page.wait_for_function("document.querySelector('#camera-door img').naturalWidth === 640", timeout=30_000)
        regions = client.get("/v1/cameras/door", headers={"X-API-Key": "admin-key"}).json()["regions"]
        (zone,), (line,) = regions["zones"], regions["lines"]
        assert zone["name"] == "left" and not zone["ignore"] and len(zone["polygon"]) == 4
        assert all(abs(a - b) < 0.02 for p, q in zip(zone["polygon"], [[0.05, 0.05], [0.5, 0.05], [0.5, 0.95], [0.05, 0.95]]) for a, b in zip(p, q))
        assert line["name"] == "door" and abs(line["from"][0] - 0.75) < 0.02
        assert "zone left" in page.inner_text("#camera-door .cam-regions") and "line door, in" in page.inner_text("#camera-door .cam-regions")
        assert page.locator("#camera-door .cam-chart canvas").count() == 1 and page.locator("#camera-door .cam-chart").bounding_box()["width"] > 400
        assert "admin-key" not in page.url
        screenshot = os.environ.get("MASKWATCH_SITE_SCREENSHOT") or str(tmp_path / "site.png")
        page.locator("#camera-door").screenshot(path=screenshot)
    camera.close()
