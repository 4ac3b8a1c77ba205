"""The service as users run it: a real uvicorn process on a loopback port."""
import base64
import socket

import cv2
import httpx
import numpy as np

from tests.conftest import VOC_DIR

FIXTURE = VOC_DIR / "images" / "maksssksksss145.png"


def test_classify_through_uvicorn(server):
    base, _ = server
    r = httpx.post(f"{base}/v1/classify", files={"image": ("f.png", FIXTURE.read_bytes(), "image/png")}, timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["image"] == {"width": 400, "height": 226} and body["faces"]
    assert body["summary"]["faces"] == len(body["faces"])


def test_oversized_upload_is_refused_before_it_is_sent(server):
    _, port = server
    declared = 50_000_000
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  + f"Content-Length: {declared}\r\n\r\n".encode() + b"--b\r\n" + bytes(10_000))
        reply = b""
        while chunk := s.recv(4096):  # the server answers and closes without reading the 50 MB
            reply += chunk
        reply = reply.decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413") and "upload_too_large" in reply
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200


def test_annotation_given_faces_and_annotate_route_through_uvicorn(server):
    base, _ = server
    files = {"image": ("f.png", FIXTURE.read_bytes(), "image/png")}
    body = httpx.post(f"{base}/v1/classify", params={"annotate": "true"}, data={"faces": "[[20, 30, 60, 80]]"},
                      files=files, timeout=30).json()
    assert [f["box"] for f in body["faces"]] == [[20, 30, 60, 80]]
    png = cv2.imdecode(np.frombuffer(base64.b64decode(body["annotated_png"]), np.uint8), cv2.IMREAD_COLOR)
    assert png.shape == (226, 400, 3)
    r = httpx.post(f"{base}/v1/annotate", files=files, timeout=30)
    assert r.headers["content-type"] == "image/png"
    assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).shape == (226, 400, 3)
    bad = httpx.post(f"{base}/v1/classify", files={"image": ("x.jpg", b"text", "image/jpeg")}, timeout=30)
    assert bad.status_code == 415 and bad.json()["error"]["code"] == "unsupported_media_type"
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200


def test_chunked_upload_is_cut_off_at_the_limit(server):
    base, _ = server

    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
        for _ in range(30):
            yield bytes(100_000)
        yield b"\r\n--b--\r\n"

    r = httpx.post(f"{base}/v1/classify", content=body(), headers={"content-type": "multipart/form-data; boundary=b"}, timeout=30)
    assert (r.status_code, r.json()["error"]["code"]) == (413, "upload_too_large")
    assert httpx.post(f"{base}/v1/classify", files={"image": ("f.png", FIXTURE.read_bytes())}, timeout=30).status_code == 200
