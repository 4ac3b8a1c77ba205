"""Overload a real server at 10x its capacity, then check it sheds fast, stays healthy and recovers at once.

    python -m bench.overload [--capacity 4] [--factor 10] [--seconds 20] [--out research/results/reliability/overload.json]

The server runs with MASKWATCH_MAX_IN_FLIGHT=capacity; capacity x factor clients upload in a loop for
--seconds, waiting as told by Retry-After after a 503 (or not, with --ignore-retry-after). Passes when:
no answer but 200 and 503 "overloaded" (no 5xx, no dropped connection), the first upload after the load
gets a 200, /healthz (probed from another process) stays under 50 ms, and 503s come fast: p50 < 50 ms
and p99 < 250 ms (p50 < 100 ms when clients ignore Retry-After and flood the CPU with refusals).
"""
import argparse
import asyncio
import random
import time

import httpx

from bench.fuzz import FIXTURES
from bench.load import BOUNDARY, client_pool, multipart, percentile, probe_health_for, server
from bench.report import verdict


async def overload(base: str, clients: int, seconds: float, polite: bool) -> dict:
    good = sorted(FIXTURES.glob("*.png"))[0].read_bytes()
    body, headers = multipart(good), {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}  # encoded once: a cheap client
    latencies: dict[str, list[float]] = {}
    stop_at = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as client:
        async def worker() -> None:
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                try:
                    r = await client.post(f"{base}/v1/classify", content=body, headers=headers)
                    key = str(r.status_code) + ("" if r.status_code != 503 else f" {r.json()['error']['code']}")
                except httpx.HTTPError as err:
                    key = type(err).__name__
                latencies.setdefault(key, []).append(time.perf_counter() - start)
                if polite and key == "503 overloaded":  # as a good client does: wait, with jitter against herds
                    await asyncio.sleep(float(r.headers["retry-after"]) * (1 + random.random() / 2))

        with client_pool(1) as pool:  # the probe in its own process: this loop is busy with the load
            probe = pool.apply_async(probe_health_for, (base, seconds))
            await asyncio.gather(*(worker() for _ in range(clients)))
            health = await asyncio.to_thread(probe.get)
        start = time.perf_counter()
        after = await client.post(f"{base}/v1/classify", files={"image": ("g.png", good)})
        recovery_ms = (time.perf_counter() - start) * 1000
    shed = latencies.get("503 overloaded", [])
    unexpected = {k: len(v) for k, v in latencies.items() if k not in ("200", "503 overloaded")}
    result = {"clients": clients, "seconds": seconds, "honours_retry_after": polite, "answers": {k: len(v) for k, v in latencies.items()},
              "ok_p50_ms": round(1000 * percentile(latencies.get("200", [0]), 0.5), 1),
              "shed_p50_ms": round(1000 * percentile(shed or [0], 0.5), 1),
              "shed_p99_ms": round(1000 * percentile(shed or [0], 0.99), 1),
              "healthz_max_ms": round(1000 * max(health), 1), "after_load_status": after.status_code,
              "after_load_ms": round(recovery_ms, 1), "unexpected": unexpected}
    # Clients that ignore Retry-After flood the CPU with refusals: there, only shedding and recovery are judged.
    # Latencies are timed by this client, whose own loop is busy with all the connections: generous bounds.
    fast = result["shed_p50_ms"] < 50 and result["shed_p99_ms"] < 250 if polite else result["shed_p50_ms"] < 100
    fast = fast and result["healthz_max_ms"] < 50
    result["passed"] = not unexpected and bool(shed) and fast and after.status_code == 200
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capacity", type=int, default=4, help="MASKWATCH_MAX_IN_FLIGHT of the server")
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--ignore-retry-after", action="store_true", help="clients retry at once instead of waiting")
    parser.add_argument("--port", type=int, default=8768)
    parser.add_argument("--out", default="runs/reliability/overload.json")
    args = parser.parse_args()
    env = {"MASKWATCH_MAX_IN_FLIGHT": str(args.capacity), "MASKWATCH_LOG_LEVEL": "warning"}
    with server(args.port, 1, env) as (base, _):
        result = asyncio.run(overload(base, args.capacity * args.factor, args.seconds, not args.ignore_retry_after))
    verdict(result, args.out, f"python -m bench.overload --capacity {args.capacity} --factor {args.factor} --seconds {args.seconds:g}"
                              + (" --ignore-retry-after" if args.ignore_retry_after else ""))


if __name__ == "__main__":
    main()
