"""The service as users run it: a real uvicorn process on a loopback port."""
import socket

import httpx

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
