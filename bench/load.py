"""HTTP load against a real uvicorn server: latency percentiles and images/s per concurrency level.

The load comes from `clients` processes, each an asyncio loop with an httpx.AsyncClient, so the
generator is not the bottleneck of a many-core host. Uploads are pre-encoded multipart bodies.
"""
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

BOUNDARY = "maskwatchbench"


def multipart(data: bytes) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="image.png"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """CPU time (user + system) process `pid`, or its thread `tid`, has used so far (Linux: /proc)."""
    stat = Path(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(port: int, workers: int, env: dict, timeout_s: float = 300):
    """A uvicorn server in a child process, started the way `make run` starts it; ready once every worker answers.

    Yields its base URL and the process."""
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env={**os.environ, **env})
    try:
        deadline, streak = time.monotonic() + timeout_s, 0
        while streak < 10 * workers:  # requests land on any worker: wait for a long run of ready answers
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not become ready (exit code {proc.poll()})")
            try:
                streak = streak + 1 if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200 else 0
            except httpx.HTTPError:
                streak = 0
            time.sleep(0.02 if streak else 0.2)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _client(url: str, bodies: list[bytes], concurrency: int, requests: int, start_at: float) -> dict:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    latencies, statuses, stages, counter = [], {}, {}, iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def worker() -> None:
            for i in counter:
                begin = time.perf_counter()
                try:
                    response = await client.post(url, content=bodies[i % len(bodies)], headers=headers)
                    status = response.status_code
                    for stage, ms in response.json().get("timing_ms", {}).items():  # the server's own split
                        stages[stage] = stages.get(stage, 0.0) + ms
                except httpx.HTTPError as err:
                    status = type(err).__name__
                latencies.append(time.perf_counter() - begin)
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"latencies": latencies, "statuses": statuses, "stages": stages, "began": began, "ended": time.time()}


def _client_process(args: tuple) -> dict:
    return asyncio.run(_client(*args))


async def probe_health(base: str, stop: asyncio.Event) -> list[float]:
    """GET /healthz every 100 ms while the load runs: the event loop must stay free."""
    times = []
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            begin = time.perf_counter()
            await client.get(f"{base}/healthz")
            times.append(time.perf_counter() - begin)
            await asyncio.sleep(0.1)
    return times


def probe_health_for(base: str, seconds: float) -> list[float]:
    """GET /healthz every 100 ms for `seconds` (run it in its own process, away from the load's event loop)."""
    times, stop_at = [], time.monotonic() + seconds
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < stop_at:
            begin = time.perf_counter()
            client.get(f"{base}/healthz")
            times.append(time.perf_counter() - begin)
            time.sleep(0.1)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def client_pool(clients: int):
    """The load-generator processes, started once (spawned: no CUDA state is inherited)."""
    return multiprocessing.get_context("spawn").Pool(clients)


def run_level(pool, base: str, route: str, bodies: list[bytes], concurrency: int, requests: int, clients: int) -> dict:
    """`requests` uploads at `concurrency` in flight, spread over `clients` processes of `pool`, /healthz probed throughout."""
    clients = max(1, min(clients, concurrency))
    shares = [concurrency // clients + (i < concurrency % clients) for i in range(clients)]
    counts = [requests * s // concurrency for s in shares]
    start_at = time.time() + 0.5  # every client starts at once
    jobs = [(base + route, bodies[i::clients] or bodies, share, count, start_at) for i, (share, count) in enumerate(zip(shares, counts))]

    async def with_probe() -> tuple[list[dict], list[float]]:
        stop = asyncio.Event()
        probe = asyncio.create_task(probe_health(base, stop))
        results = await asyncio.to_thread(pool.map, _client_process, jobs, 1)
        stop.set()
        return results, await probe

    results, health = asyncio.run(with_probe())
    latencies = [t for r in results for t in r["latencies"]]
    statuses: dict = {}
    for r in results:
        for k, v in r["statuses"].items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
    elapsed = max(r["ended"] for r in results) - min(r["began"] for r in results)
    stages = {k: round(sum(r["stages"].get(k, 0.0) for r in results) / len(latencies), 2) for k in results[0]["stages"]}
    return {"route": route, "concurrency": concurrency, "requests": len(latencies), "statuses": statuses,
            "images_per_s": round(statuses.get("200", 0) / elapsed, 1),
            "p50_ms": round(1000 * statistics.median(latencies), 1), "p95_ms": round(1000 * percentile(latencies, 0.95), 1),
            "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
            "healthz_max_ms": round(1000 * max(health), 1) if health else None,
            "healthz_p50_ms": round(1000 * statistics.median(health), 1) if health else None,
            "server_mean_ms": stages}
