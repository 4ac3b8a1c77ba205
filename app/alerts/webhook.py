"""Alert delivery: each alert POSTed as JSON, signed with HMAC-SHA256 over the body, retried with backoff and
jitter. Alerts wait in a bounded queue and one task delivers them, so a slow or dead receiver never holds up
analysis; what could not be delivered is counted in maskwatch_alerts_total{result}."""
import asyncio
import hashlib
import hmac
import json
import logging
import random

import httpx

from app import metrics

log = logging.getLogger("maskwatch")
SIGNATURE_HEADER = "X-MaskWatch-Signature"


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(self, url: str, secret: str | None, timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 1.0,
                 max_queue: int = 100):
        self.url, self.secret, self.timeout_s, self.retries, self.backoff_s = url, secret, timeout_s, retries, backoff_s
        self.queue: asyncio.Queue = asyncio.Queue(max_queue)

    def send(self, alert: dict) -> None:
        """Queue `alert` for delivery; never waits. A full queue drops it (counted)."""
        try:
            self.queue.put_nowait(alert)
        except asyncio.QueueFull:
            metrics.ALERTS.labels(result="dropped").inc()
            log.warning("alert dropped: %d alerts already wait for %s", self.queue.qsize(), self.url)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            while True:
                await self.deliver(client, await self.queue.get())

    async def deliver(self, client: httpx.AsyncClient, alert: dict) -> bool:
        body = json.dumps(alert).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        for attempt in range(self.retries + 1):
            try:
                response = await client.post(self.url, content=body, headers=headers)
                if response.status_code < 300:
                    metrics.ALERTS.labels(result="delivered").inc()
                    return True
                error = f"status {response.status_code}"
            except httpx.HTTPError as err:
                error = f"{type(err).__name__}: {err}"
            if attempt < self.retries:
                metrics.ALERTS.labels(result="retried").inc()
                await asyncio.sleep(self.backoff_s * 2 ** attempt * random.uniform(0.5, 1.0))
        metrics.ALERTS.labels(result="failed").inc()
        log.warning("alert %s for camera %s not delivered after %d tries: %s", alert["rule"], alert["camera"], self.retries + 1, error)
        return False
