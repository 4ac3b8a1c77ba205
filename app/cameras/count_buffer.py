"""People counted, on their way to the database. The cameras put them here and never wait; one task writes them
in batches. While the database is away they wait, up to MASKWATCH_STORE_BUFFER of them, and are written when it is
back; past that, new ones are dropped and counted in maskwatch_store_dropped_total. Each carries its idempotent key,
so a batch retried after a lost connection counts once."""
import asyncio
import logging
from collections import deque
from collections.abc import Callable

from app import metrics
from app.cameras.store import CameraStore, Counted
from app.database import describe

log = logging.getLogger("maskwatch")
BATCH = 500
BACKOFF_S = (0.5, 10.0)  # first and longest wait between tries


class CountBuffer:
    def __init__(self, size: int):
        self.size = size
        self.rows: deque[Counted] = deque()
        self.wake = asyncio.Event()
        self.failing: str | None = None  # why the last write failed; None once one succeeds
        self.dropping = False  # whether people were dropped since the last write that succeeded

    def put(self, row: Counted) -> None:
        if len(self.rows) >= self.size:
            metrics.STORE_DROPPED.inc()
            if not self.dropping:  # once an outage, not once a person: maskwatch_store_dropped_total counts them
                log.warning("people are no longer counted: %d counts already wait for the database (MASKWATCH_STORE_BUFFER)", self.size)
            self.dropping = True
            return
        self.rows.append(row)
        metrics.STORE_PENDING.set(len(self.rows))
        self.wake.set()

    async def run(self, get_store: Callable[[], CameraStore | None]) -> None:
        wait = BACKOFF_S[0]
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.rows:
                if await self._write(get_store()):
                    wait = BACKOFF_S[0]
                    continue
                await asyncio.sleep(wait)
                wait = min(wait * 2, BACKOFF_S[1])

    async def _write(self, store: CameraStore | None) -> bool:
        """Write the oldest batch; False (the rows kept) when there is no database or it fails."""
        if store is None:
            return False
        batch = [self.rows[i] for i in range(min(BATCH, len(self.rows)))]
        try:
            await asyncio.to_thread(store.add_people, batch)
        except Exception as err:
            if self.failing is None:
                log.warning("counts wait for the database (%d now): %s", len(self.rows), describe(err))
            self.failing = describe(err)
            metrics.STORE_UP.set(0)
            return False
        for _ in batch:
            self.rows.popleft()
        if self.failing is not None:
            log.info("the database is back: counts written again")
        self.failing, self.dropping = None, False
        metrics.STORE_UP.set(1)
        metrics.STORE_PENDING.set(len(self.rows))
        return True

    async def flush(self, store: CameraStore | None, timeout_s: float) -> None:
        """Write what waits (a clean stop), for at most `timeout_s`; what is left is lost, and logged."""
        async def drain() -> None:
            while self.rows and await self._write(store):
                pass
        try:
            await asyncio.wait_for(drain(), timeout_s)
        except TimeoutError:
            pass
        if self.rows:
            log.warning("%d counted people could not be written before the stop", len(self.rows))
