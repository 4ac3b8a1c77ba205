"""Overload a real server at 10x its capacity, then check it sheds fast, stays healthy and recovers at once.

    python -m bench.overload [--capacity 4] [--factor 10] [--seconds 20] [--out results/reliability/overload.json]

The server runs with MASKWATCH_MAX_IN_FLIGHT=capacity; capacity x factor clients upload in a loop for
--seconds. Passes when: no 5xx other than 503 "overloaded", 503s come fast (p99 < 100 ms), /healthz
stays under 50 ms throughout, and the first upload after the load stops gets a 200.
"""
import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx

from bench.fuzz import FIXTURES
from bench.load import _probe_health, percentile, server


async def overload(base: str, clients: int, seconds: float) -> dict:
    good = sorted(FIXTURES.glob("*.png"))[0].read_bytes()
    latencies: dict[str, list[float]] = {}
    stop_at = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as client:
        async def worker() -> None:
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                try:
                    r = await client.post(f"{base}/v1/classify", files={"image": ("g.png", good)})
                    key = str(r.status_code) + ("" if r.status_code != 503 else f" {r.json()['error']['code']}")
                except httpx.HTTPError as err:
                    key = type(err).__name__
                latencies.setdefault(key, []).append(time.perf_counter() - start)

        stop = asyncio.Event()
        probe = asyncio.create_task(_probe_health(base, stop))
        await asyncio.gather(*(worker() for _ in range(clients)))
        stop.set()
        health = await probe
        start = time.perf_counter()
        after = await client.post(f"{base}/v1/classify", files={"image": ("g.png", good)})
        recovery_ms = (time.perf_counter() - start) * 1000
    shed = latencies.get("503 overloaded", [])
    unexpected = {k: len(v) for k, v in latencies.items() if k not in ("200", "503 overloaded")}
    result = {"clients": clients, "seconds": seconds, "answers": {k: len(v) for k, v in latencies.items()},
              "ok_p50_ms": round(1000 * percentile(latencies.get("200", [0]), 0.5), 1),
              "shed_p50_ms": round(1000 * percentile(shed or [0], 0.5), 1),
              "shed_p99_ms": round(1000 * percentile(shed or [0], 0.99), 1),
              "healthz_max_ms": round(1000 * max(health), 1), "after_load_status": after.status_code,
              "after_load_ms": round(recovery_ms, 1), "unexpected": unexpected}
    result["passed"] = (not unexpected and bool(shed) and result["shed_p99_ms"] < 100 and result["healthz_max_ms"] < 50
                        and after.status_code == 200)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capacity", type=int, default=4, help="MASKWATCH_MAX_IN_FLIGHT of the server")
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--port", type=int, default=8768)
    parser.add_argument("--out", default="results/reliability/overload.json")
    args = parser.parse_args()
    env = {"MASKWATCH_MAX_IN_FLIGHT": str(args.capacity), "MASKWATCH_LOG_LEVEL": "warning"}
    with server(args.port, 1, env) as (base, _):
        result = asyncio.run(overload(base, args.capacity * args.factor, args.seconds))
    result["command"] = f"python -m bench.overload --capacity {args.capacity} --factor {args.factor} --seconds {args.seconds:g}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    raise SystemExit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
