"""The ASGI guard in front of the app: admission control, upload byte limit and upload deadline.

Everything here happens before the body is read, so an overloaded server answers 503 at once, an
oversized upload is refused before it is read whole, and a slow client cannot hold a worker.
"""
import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import errors, metrics


class Guard:
    def __init__(self, app: ASGIApp, max_bytes: int, max_in_flight: int, upload_timeout_s: float):
        self.app = app
        self.max_bytes = max_bytes
        self.ceiling = max_bytes + 64 * 1024  # room for the multipart envelope around the image
        self.max_in_flight = max_in_flight
        self.upload_timeout_s = upload_timeout_s
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.ceiling:
            return await refuse(send, 413, "upload_too_large", f"the upload is over the limit of {self.max_bytes} bytes")
        if self.in_flight >= self.max_in_flight:
            # Read the body before answering: closing on unread bytes resets the connection and the client
            # would lose the 503. Bytes are only counted, never parsed or decoded.
            if await self._drain(receive):
                return await refuse(send, 503, "overloaded", f"{self.in_flight} requests are in progress; retry shortly",
                                    {"Retry-After": "1"}, close=False)
            return await refuse(send, 408, "upload_timeout", f"the upload did not arrive within {self.upload_timeout_s:g} s")
        self.in_flight += 1
        metrics.ADMITTED.set(self.in_flight)
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.in_flight -= 1
            metrics.ADMITTED.set(self.in_flight)

    async def _drain(self, receive: Receive) -> bool:
        """Read and drop the body; False if it did not end within the upload deadline or the byte ceiling."""
        deadline, seen = time.monotonic() + self.upload_timeout_s, 0
        while seen <= self.ceiling:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return False
            seen += len(message.get("body", b""))
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                return True
        return False

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen, cut = 0, False
        deadline = time.monotonic() + self.upload_timeout_s

        async def guarded_receive() -> Message:
            nonlocal seen, cut
            if cut:
                return {"type": "http.disconnect"}
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                cut = True
                await refuse(send, 408, "upload_timeout", f"the upload did not arrive within {self.upload_timeout_s:g} s")
                return {"type": "http.disconnect"}
            seen += len(message.get("body", b""))
            if seen > self.ceiling:  # a chunked upload without Content-Length: answer now, stop the app reading
                cut = True
                await refuse(send, 413, "upload_too_large", f"the upload is over the limit of {self.max_bytes} bytes")
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not cut:
                await send(message)

        await self.app(scope, guarded_receive, guarded_send)


async def refuse(send: Send, status: int, code: str, message: str, headers: dict | None = None, close: bool = True) -> None:
    """Answer with the JSON error shape; `close` when the rest of the body is left unread."""
    response = errors.error_response(status, code, message, headers={**({"Connection": "close"} if close else {}), **(headers or {})})
    await response({"type": "http"}, None, send)
