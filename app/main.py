"""Builds the FastAPI app: settings, logging, model loading at start-up, metrics and error handling."""
import asyncio
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__, errors, metrics
from app.api import router
from app.service import Service
from app.settings import Settings, get_settings

log = logging.getLogger("maskwatch")


class BodyLimit:
    """Refuse an upload over the byte limit from its Content-Length, or as soon as the stream passes it."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit
        self.ceiling = limit + 64 * 1024  # room for the multipart envelope around the image

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.ceiling:
            return await self._refuse(send)
        seen, refused = 0, False

        async def counted_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.ceiling:  # a chunked upload without Content-Length: answer now, stop the app reading
                refused = True
                await self._refuse(send)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted_receive, guarded_send)

    async def _refuse(self, send: Send) -> None:
        response = errors.error_response(413, "upload_too_large", f"the upload is over the limit of {self.limit} bytes",
                                         headers={"Connection": "close"})
        await response({"type": "http"}, None, send)


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", "unmatched")


def create_app(settings: Settings | None = None, load_models: bool = True) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if load_models:
            async def load() -> None:
                start = time.perf_counter()
                app.state.service = await asyncio.to_thread(Service, settings)
                log.info("models loaded on %s in %.1fs", app.state.service.device, time.perf_counter() - start)
            task = asyncio.create_task(load())
        yield
        if load_models and not task.done():
            task.cancel()

    app = FastAPI(title="MaskWatch", version=__version__, lifespan=lifespan,
                  description="Face-mask compliance: every face of an image, labelled with_mask, without_mask "
                              "or mask_worn_incorrectly.")
    app.dependency_overrides[get_settings] = lambda: settings
    app.state.service = None
    errors.install(app)
    app.include_router(router)

    @app.middleware("http")
    async def observe(request, call_next):
        metrics.IN_FLIGHT.inc()
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            metrics.IN_FLIGHT.dec()
            metrics.REQUEST_LATENCY.labels(route=route_of(request.scope), method=request.method,
                                           status_class=f"{status // 100}xx").observe(time.perf_counter() - start)

    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    return app


app = create_app()
