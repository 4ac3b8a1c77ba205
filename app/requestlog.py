"""Outermost ASGI layer: a request id (X-Request-ID, echoed), the Prometheus latency metric and one JSON log line."""
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics

log = logging.getLogger("maskwatch.request")
GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def route_of(scope: Scope) -> str:
    """The matched route's template (never raw user input beyond a known path)."""
    route = scope.get("route")
    return getattr(route, "path", "unmatched")


class RequestLog:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if GIVEN_ID.fullmatch(given) else uuid.uuid4().hex
        start = time.perf_counter()
        state = {"status": 500, "bytes_in": 0, "bytes_out": 0}

        async def counting_receive() -> Message:
            message = await receive()
            state["bytes_in"] += len(message.get("body", b""))
            return message

        async def tagging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                state["bytes_out"] += len(message.get("body", b""))
            await send(message)

        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, counting_receive, tagging_send)
        finally:
            metrics.IN_FLIGHT.dec()
            seconds = time.perf_counter() - start
            route, status = route_of(scope), state["status"]
            metrics.REQUEST_LATENCY.labels(route=route, method=scope["method"],
                                           status_class=f"{status // 100}xx").observe(seconds)
            log.info("request", extra={"fields": {"request_id": request_id, "method": scope["method"], "route": route,
                                                  "status": status, "bytes_in": state["bytes_in"],
                                                  "bytes_out": state["bytes_out"], "ms": round(seconds * 1000, 2)}})
