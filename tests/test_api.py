import base64
import io
import json

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.imaging import decode_image
from app.main import create_app
from app.settings import Settings
from tests.conftest import VOC_DIR, wait_ready
from training.detection_metrics import iou

FIXTURE = VOC_DIR / "images" / "maksssksksss760.png"


@pytest.fixture(scope="module")
def client():
    app = create_app(Settings(max_upload_bytes=2_000_000, max_pixels=30_000_000, static_shapes=True))  # as served by default
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def encode(array: np.ndarray, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt, **params)
    return buf.getvalue()


def post(client, payload: bytes, name="x.png", **kwargs):
    return client.post("/v1/classify", files={"image": (name, payload, "application/octet-stream")}, **kwargs)


def error_code(response) -> str:
    return response.json()["error"]["code"]


def test_contract_fields_with_detection_and_annotation(client):
    r = post(client, FIXTURE.read_bytes(), params={"annotate": "true"})
    assert r.status_code == 200
    body = r.json()
    assert body["image"] == {"width": 400, "height": 225}
    assert len(body["faces"]) >= 4
    face = body["faces"][0]
    assert set(face) == {"box", "label", "confidence", "scores", "detection_score"}
    assert set(face["scores"]) == {"with_mask", "without_mask", "mask_worn_incorrectly"}
    summary = body["summary"]
    assert summary["faces"] == len(body["faces"]) == sum(summary[k] for k in face["scores"])
    assert summary["compliant"] is False  # this photo has unmasked faces
    assert set(body["model"]) == {"detector", "classifier", "device", "backend", "precision"} and body["model"]["device"] == "cpu"
    assert {"decode", "detect", "classify", "annotate", "total"} <= set(body["timing_ms"])
    png = cv2.imdecode(np.frombuffer(base64.b64decode(body["annotated_png"]), np.uint8), cv2.IMREAD_COLOR)
    assert png.shape == (225, 400, 3)


def test_given_faces_skip_detection_keep_order_and_clip(client):
    r = post(client, FIXTURE.read_bytes(), data={"faces": "[[300, 50, 330, 90], [-10, -10, 40, 40]]"})
    body = r.json()
    assert r.status_code == 200 and [f["box"] for f in body["faces"]] == [[300, 50, 330, 90], [0, 0, 40, 40]]
    assert all(f["detection_score"] == 1.0 for f in body["faces"])
    assert "annotated_png" not in body and "detect" not in body["timing_ms"]


def test_min_confidence_one_drops_every_detection(client):
    body = post(client, FIXTURE.read_bytes(), params={"min_confidence": 1}).json()
    assert body["faces"] == [] and body["summary"]["compliant"] is True


def test_annotate_endpoint_returns_the_png(client):
    r = client.post("/v1/annotate", files={"image": ("a.png", FIXTURE.read_bytes(), "image/png")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).shape == (225, 400, 3)


def decode_png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(int)


def check_blurred(plain: np.ndarray, blurred: np.ndarray, boxes: list) -> None:
    """Inside every face box the pixels changed; outside all boxes not one did."""
    outside = np.ones(plain.shape[:2], bool)
    for box in boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        outside[y1:y2, x1:x2] = False
        inner = np.abs(plain[y1 + 2:y2 - 2, x1 + 2:x2 - 2] - blurred[y1 + 2:y2 - 2, x1 + 2:x2 - 2])  # inside the outline
        assert (inner.max(axis=2) > 0).mean() > 0.5, f"box {box} is not blurred"
    assert np.array_equal(plain[outside], blurred[outside])


def test_blur_blurs_every_face_and_nothing_else(client):
    faces = "[[300, 50, 330, 90], [100, 60, 160, 140]]"
    plain = client.post("/v1/annotate", files={"image": ("a.png", FIXTURE.read_bytes())}, data={"faces": faces})
    blurred = client.post("/v1/annotate", files={"image": ("a.png", FIXTURE.read_bytes())}, data={"faces": faces},
                          params={"blur": "true"})
    assert plain.status_code == blurred.status_code == 200
    check_blurred(decode_png(plain.content), decode_png(blurred.content), json.loads(faces))


def test_blur_in_classify_blurs_the_detected_faces(client):
    plain = post(client, FIXTURE.read_bytes(), params={"annotate": "true"}).json()
    blurred = post(client, FIXTURE.read_bytes(), params={"annotate": "true", "blur": "true"}).json()
    assert plain["faces"] == blurred["faces"] and len(plain["faces"]) > 0
    check_blurred(decode_png(base64.b64decode(plain["annotated_png"])), decode_png(base64.b64decode(blurred["annotated_png"])),
                  [f["box"] for f in plain["faces"]])


def test_info_health_metrics_and_docs(client):
    info = client.get("/v1/info").json()
    assert info["classes"] == ["with_mask", "without_mask", "mask_worn_incorrectly"]
    assert info["limits"]["max_upload_bytes"] == 2_000_000
    assert client.get("/healthz").json() == {"status": "ok"}
    assert post(client, FIXTURE.read_bytes()).status_code == 200
    text = client.get("/metrics").text
    assert 'maskwatch_request_duration_seconds_bucket{le="0.001",method="POST",route="/v1/classify",status_class="2xx"}' in text
    assert "maskwatch_faces_total" in text and "maskwatch_model_info" in text
    openapi = client.get("/openapi.json").json()
    assert "/v1/classify" in openapi["paths"] and "/v1/annotate" in openapi["paths"]
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html") and "v1/classify" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from another host
    assert openapi["components"]["schemas"]["ClassifyResponse"]["examples"][0]["summary"]["faces"] == 1


def rgb_fixture() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(FIXTURE)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("make", [
    lambda: encode(np.zeros((1, 1, 3), np.uint8), "PNG"),
    lambda: encode(cv2.cvtColor(rgb_fixture(), cv2.COLOR_RGB2GRAY), "PNG"),
    lambda: encode(np.dstack([rgb_fixture(), np.full((225, 400), 255, np.uint8)]), "PNG"),
    lambda: encode((cv2.cvtColor(rgb_fixture(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257), "PNG"),
    lambda: encode(rgb_fixture(), "JPEG"),
    lambda: encode(rgb_fixture(), "WEBP"),
    lambda: encode(rgb_fixture(), "BMP"),
], ids=["1x1", "gray", "rgba", "16bit", "jpeg", "webp", "bmp"])
def test_odd_but_valid_images_are_answered(client, make):
    r = post(client, make())
    assert r.status_code == 200, r.text


def test_a_damaged_jpeg_prints_nothing_outside_the_json_logs(capfd):
    jpeg = encode(rgb_fixture(), "JPEG")
    damaged = jpeg[:-2] + b"\x00" * 75 + jpeg[-2:]  # stray bytes before the end marker, as some webcams send
    assert decode_image(damaged, 10**9).shape == (225, 400, 3)
    assert capfd.readouterr().err == ""  # OpenCV's libjpeg would print "Corrupt JPEG data: ..." to stderr here


def test_cmyk_jpeg(client):
    data = io.BytesIO()
    Image.fromarray(rgb_fixture()).convert("CMYK").save(data, "JPEG")
    r = post(client, data.getvalue(), name="x.jpg")
    assert r.status_code == 200 and r.json()["image"] == {"width": 400, "height": 225}


def test_camera_frame_jpeg_is_answered_in_its_own_pixels(client):
    small = post(client, encode(rgb_fixture(), "PNG")).json()["faces"]
    frame = cv2.resize(rgb_fixture(), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    body = post(client, encode(frame, "JPEG", quality=90), name="frame.jpg").json()
    assert body["image"] == {"width": 1920, "height": 1080}
    # resampling and JPEG move scores near the threshold: every confident face must be found in the same place
    scale = np.array([1920 / 400, 1080 / 225] * 2)
    found = np.array([f["box"] for f in body["faces"]]) / scale
    confident = np.array([f["box"] for f in small if f["detection_score"] >= 0.5])
    assert len(confident) >= 5 and abs(len(body["faces"]) - len(small)) <= 2
    assert (iou(confident, found).max(1) >= 0.7).all()


def test_exif_rotation_is_applied_before_anything_else(client):
    image = Image.fromarray(rgb_fixture())
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif)
    body = post(client, buf.getvalue(), data={"faces": "[[150, 350, 200, 399]]"}).json()
    assert body["image"] == {"width": 225, "height": 400}
    assert body["faces"][0]["box"] == [150, 350, 200, 399]


@pytest.mark.parametrize("data,status,code", [
    (b"", 400, "empty_image"),
    (b"just some text, named .jpg", 415, "unsupported_media_type"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 20, 400, "unreadable_image"),
], ids=["empty", "text", "jpeg-header-only"])
def test_bad_bytes(client, data, status, code):
    r = post(client, data, name="x.jpg")
    assert (r.status_code, error_code(r)) == (status, code)


def test_truncated_png_and_jpeg(client):
    png = FIXTURE.read_bytes()
    jpeg = encode(rgb_fixture(), "JPEG")
    for data in (png[: len(png) // 2], jpeg[: len(jpeg) // 3]):
        r = post(client, data)
        assert r.status_code in (200, 400), r.text  # a truncated JPEG may still decode (grey tail); never a 5xx
        if r.status_code == 400:
            assert error_code(r) == "unreadable_image"
    assert post(client, png).status_code == 200


def test_decompression_bomb_is_refused_from_its_header(client):
    buf = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buf, "PNG")
    assert len(buf.getvalue()) < 100_000
    r = post(client, buf.getvalue())
    assert (r.status_code, error_code(r)) == (413, "image_too_large")


def test_upload_over_the_byte_limit(client):
    r = post(client, b"\x89PNG\r\n\x1a\n" + bytes(3_000_000))
    assert (r.status_code, error_code(r)) == (413, "upload_too_large")
    assert post(client, FIXTURE.read_bytes()).status_code == 200


@pytest.mark.parametrize("faces,fragment", [
    ("not json", "must be JSON"),
    ('{"a": 1}', "JSON list"),
    ("[[1, 2, 3]]", "faces[0]"),
    ('[[1, 2, 3, "x"]]', "faces[0]"),
    ("[[10, 10, 50, 50], [30, 30, 20, 40]]", "faces[1] is empty or inverted"),
    ("[[500, 300, 600, 400]]", "faces[0] lies outside"),
])
def test_malformed_faces_are_422_naming_the_box(client, faces, fragment):
    r = post(client, FIXTURE.read_bytes(), data={"faces": faces})
    assert r.status_code == 422 and fragment in r.json()["error"]["message"]


def test_wrong_field_name_and_bad_query(client):
    r = client.post("/v1/classify", files={"picture": ("a.png", FIXTURE.read_bytes(), "image/png")})
    assert (r.status_code, error_code(r)) == (422, "invalid_parameters")
    r = post(client, FIXTURE.read_bytes(), params={"min_confidence": "2"})
    assert r.status_code == 422
    assert client.post("/v1/classify").status_code == 422


def test_not_ready_before_models_load():
    app = create_app(Settings(), load_models=False)
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert (r.status_code, error_code(r)) == (503, "not_ready")
        assert post(c, FIXTURE.read_bytes()).status_code == 503


def test_null_endpoint_is_off_unless_enabled(client):
    r = post(client, FIXTURE.read_bytes()).status_code == 200
    assert r and client.post("/v1/null", files={"image": ("x.png", FIXTURE.read_bytes())}).status_code == 404
    app = create_app(Settings(null_endpoint=True), load_models=False)
    with TestClient(app) as c:
        r = c.post("/v1/null", files={"image": ("x.png", FIXTURE.read_bytes())})
        assert r.status_code == 200 and r.json()["image"] == {"width": 400, "height": 225}
        assert error_code(c.post("/v1/null", files={"image": ("x.png", b"junk")})) == "unsupported_media_type"
        assert "/v1/null" not in c.get("/openapi.json").json()["paths"]


def test_concurrent_uploads_share_batches_and_get_their_own_answers():
    import concurrent.futures

    app = create_app(Settings(batch_max_size=4, batch_max_wait_ms=50))
    images = sorted((VOC_DIR / "images").glob("*.png"))
    with TestClient(app) as c:
        wait_ready(c)
        alone = [post(c, p.read_bytes()).json() for p in images]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda p: post(c, p.read_bytes()).json(), images))
    assert max(r["batch_size"] for r in together) > 1 and all(r["batch_size"] == 1 for r in alone)
    for a, t in zip(alone, together):
        assert a["image"] == t["image"]
        assert sum(f["detection_score"] >= 0.4 for f in a["faces"]) <= len(t["faces"])


def test_two_copies_of_the_models_answer_at_once_what_one_answers_alone():
    import concurrent.futures

    app = create_app(Settings(model_copies=2))
    images = sorted((VOC_DIR / "images").glob("*.png")) * 2
    with TestClient(app) as c:
        wait_ready(c)
        copies, used = list(app.state.service.host.idle.queue), []
        for models in copies:
            models.run = lambda jobs, run=models.run, models=models: used.append(models) or run(jobs)
        alone = [post(c, p.read_bytes()).json() for p in images]
        alone_used, used[:] = set(map(id, used)), []
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda p: post(c, p.read_bytes()).json(), images))
    assert len(copies) == 2 and len(alone_used) == 1  # one after another: one copy takes them all
    assert set(map(id, used)) == set(map(id, copies))
    assert [a["faces"] for a in alone] == [t["faces"] for t in together]


def test_a_full_queue_answers_503_with_retry_after(monkeypatch):
    from app.batching import MicroBatcher, QueueFull

    async def full(self, item):
        raise QueueFull

    app = create_app(Settings())
    with TestClient(app) as c:
        wait_ready(c)
        monkeypatch.setattr(MicroBatcher, "submit", full)
        r = post(c, FIXTURE.read_bytes())
    assert (r.status_code, error_code(r), r.headers["retry-after"]) == (503, "overloaded", "1")


def test_the_command_line_finds_the_same_faces_as_the_service(client):
    """One source of serving defaults (models/pipeline.py): read scale, score floor, threshold and face cap."""
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "models.classify", str(FIXTURE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    cli = [json.loads(line) for line in result.stdout.splitlines()]
    served = post(client, FIXTURE.read_bytes()).json()["faces"]
    assert len(cli) == len(served) > 3
    for a, b in zip(cli, served):
        assert a["label"] == b["label"] and np.allclose(a["box"], b["box"], atol=0.01)
        assert a["detection_score"] == pytest.approx(b["detection_score"], abs=1e-4)
