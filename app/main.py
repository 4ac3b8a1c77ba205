"""Builds the FastAPI app: settings, logging, model loading at start-up, the cameras, metrics and error handling."""
import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app import __version__, errors, logs, metrics
from app.alerts.sink import AlertSink
from app.alerts.webhook import Webhook
from app.api import router
from app.auth import load_keys
from app.cameras.api import router as camera_router
from app.cameras.manager import CameraManager, file_cameras
from app.database import database_url
from app.guard import Guard
from app.model_host import ModelHost
from app.mqtt import MQTT
from app.reports.api import router as report_router
from app.requestlog import RequestLog
from app.service import Service
from app.settings import Settings, get_settings

log = logging.getLogger("maskwatch")


def create_app(settings: Settings | None = None, load_models: bool = True) -> FastAPI:
    settings = settings or get_settings()
    logs.setup(settings.log_level)
    keys = load_keys(settings)  # a bad keys file stops the start, not the first request
    plan = settings.runtime_plan()  # so do settings that cannot run here
    log.info("runtime plan", extra={"fields": {"runtime_plan": asdict(plan)}})
    # decoding and drawing, one thread per core: a burst of uploads cannot starve the event loop
    pool = ThreadPoolExecutor(plan.cpu_threads, thread_name_prefix="cpu")
    from_file = file_cameras(settings)  # so does a bad cameras file
    mqtt = MQTT(settings) if settings.mqtt_url else None  # and an MQTT URL that is not one
    url = database_url(settings.database_url and settings.database_url.get_secret_value() or None, settings.cameras_db)  # and a bad database URL

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if mqtt is not None:
            mqtt.start()  # paho's thread connects, and reconnects, on its own
        await app.state.cameras.start(from_file)
        alerting, senders = [], [mqtt.alert] if mqtt is not None else []
        if settings.alert_webhook:  # delivery and checking each in a task of its own: neither waits on analysis
            webhook = Webhook(settings.alert_webhook, settings.alert_secret)
            alerting.append(asyncio.create_task(webhook.run()))
            senders.append(webhook.send)
        if senders:
            alerting.append(asyncio.create_task(AlertSink(settings, app.state.cameras.alert_views, senders, app.state.cameras.check_store).run()))
        metrics.READY.set(0)
        if load_models:
            host = ModelHost(settings, plan)

            async def load() -> None:
                start = time.perf_counter()
                try:
                    await host.load()
                except Exception as err:  # /readyz says why, rather than "still loading" for ever
                    app.state.load_error = f"{type(err).__name__}: {err}"
                    log.exception("loading the models failed")
                    return
                app.state.service = Service(settings, host, pool)
                metrics.READY.set(1)
                log.info("models loaded on %s in %.1fs", plan.device, time.perf_counter() - start)
            loading = asyncio.create_task(load())
        yield
        for task in alerting:
            task.cancel()
        await app.state.cameras.stop()  # first: the streams close and the people in view are counted
        if mqtt is not None:
            mqtt.stop()
        if load_models:
            loading.cancel()
            await host.close()
        pool.shutdown(wait=False, cancel_futures=True)
        metrics.process_exited()

    app = FastAPI(title="MaskWatch", version=__version__, lifespan=lifespan,
                  description="Face-mask compliance: every face of an image, labelled with_mask, without_mask "
                              "or mask_worn_incorrectly.")
    app.dependency_overrides[get_settings] = lambda: settings
    app.state.service = None
    app.state.plan = plan
    app.state.load_error = None
    app.state.keys = keys
    app.state.cpu_pool = pool
    app.state.cameras = CameraManager(settings, url, lambda: app.state.service, pool, mqtt)
    errors.install(app)
    app.include_router(router)
    app.include_router(camera_router)
    app.include_router(report_router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")  # the page's chart library
    app.add_middleware(Guard, max_bytes=settings.max_upload_bytes, max_in_flight=settings.max_in_flight,
                       upload_timeout_s=settings.upload_timeout_s)
    app.add_middleware(RequestLog)  # added last: outermost, so refusals by the guard are logged and tagged too
    return app


app = create_app()
