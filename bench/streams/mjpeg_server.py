"""An HTTP MJPEG camera for the tests (multipart/x-mixed-replace, as IP cameras serve it), in a thread.

`MJPEGServer(frames, fps, stall_after=N)` sends the BGR frames in a loop; with `stall_after` it stops sending
after N frames but keeps the connection open, as a hung camera does."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "frame"


class MJPEGServer:
    def __init__(self, frames: list[np.ndarray], fps: float, stall_after: int | None = None):
        self.jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for f in frames]
        self.fps, self.stall_after = fps, stall_after
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                sent = 0
                try:
                    while not server.stop.is_set():
                        if server.stall_after is not None and sent >= server.stall_after:
                            server.stop.wait(0.1)  # hung: the connection stays open, nothing comes
                            continue
                        jpeg = server.jpegs[sent % len(server.jpegs)]
                        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                                         + jpeg + b"\r\n")
                        sent += 1
                        time.sleep(1 / server.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/video.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
