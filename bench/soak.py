"""Soak a real server: a long mixed load of good and bad uploads, then check nothing drifted.

    python -m bench.soak [--minutes 10] [--concurrency 32] [--max-requests 100000] [--out research/results/reliability/soak.json]

Before the load, every good image is sent alone and its answer kept. During the load (bounded by
--minutes and --max-requests, whichever comes first) a third of the uploads are bad (junk, truncated,
wrong field, a pixel bomb, a bad `faces`). Passes when: no 5xx, no dropped connection, every good answer equals its
answer alone (labels, and boxes within 1 px), and the server's resident memory grew < 10% after warm-up.
"""
import argparse
import asyncio
import random
import time
from pathlib import Path

import httpx

from bench.fuzz import FIXTURES
from bench.load import server
from bench.report import verdict

ROUTE = "/v1/classify"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def signature(body: dict) -> list:
    return [(f["label"], f["box"]) for f in body["faces"]]


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(la == lb and max(abs(x - y) for x, y in zip(ba, bb)) <= 1.0
                                    for (la, ba), (lb, bb) in zip(a, b))


def bad_uploads(good: bytes) -> list[dict]:
    """Refused uploads of every kind but the oversized one (answered before its body is read, which a client
    still sending sees as a reset: tests/test_server.py covers it)."""
    bmp_bomb = b"BM" + bytes(16) + (100_000).to_bytes(4, "little") * 2 + bytes(40)
    return [{"files": {"image": ("junk.png", b"not an image")}},
            {"files": {"image": ("cut.png", good[: len(good) // 2])}},
            {"files": {"picture": ("wrong-field.png", good)}},
            {"files": {"image": ("pixels.bmp", bmp_bomb)}},
            {"files": {"image": ("x.png", good)}, "data": {"faces": "[[1, 2]]"}}]


async def soak(base: str, pid: int, args) -> dict:
    goods = [p.read_bytes() for p in sorted(FIXTURES.glob("*.png"))]
    bads = bad_uploads(goods[0])
    rng = random.Random(args.seed)
    stats = {"sent": 0, "good": 0, "bad": 0, "statuses": {}, "mismatches": 0, "dropped": 0}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=args.concurrency)) as client:
        alone = [signature((await client.post(base + ROUTE, files={"image": ("a.png", g)})).json()) for g in goods]
        stop_at = time.monotonic() + 60 * args.minutes
        memory, warm_after = [], time.monotonic() + args.warmup_s

        async def worker() -> None:
            while time.monotonic() < stop_at and stats["sent"] < args.max_requests:
                stats["sent"] += 1
                is_bad = rng.random() < 1 / 3
                index = rng.randrange(len(bads) if is_bad else len(goods))
                request = bads[index] if is_bad else {"files": {"image": ("g.png", goods[index])}}
                try:
                    r = await client.post(base + ROUTE, **request)
                except httpx.HTTPError:
                    stats["dropped"] += 1
                    continue
                key = str(r.status_code) + (f" {r.json()['error']['code']}" if r.status_code >= 500 else "")
                stats["statuses"][key] = stats["statuses"].get(key, 0) + 1
                stats["bad" if is_bad else "good"] += 1
                if not is_bad and (r.status_code != 200 or not same(signature(r.json()), alone[index])):
                    stats["mismatches"] += 1

        async def sample_memory() -> None:
            while time.monotonic() < stop_at and stats["sent"] < args.max_requests:
                if time.monotonic() > warm_after:
                    memory.append(rss_mb(pid))
                await asyncio.sleep(1)

        start = time.monotonic()
        await asyncio.gather(sample_memory(), *(worker() for _ in range(args.concurrency)))
        stats["seconds"] = round(time.monotonic() - start, 1)
    five_xx = sum(v for k, v in stats["statuses"].items() if k.startswith("5"))
    growth = (memory[-1] - memory[0]) / memory[0] if len(memory) > 1 else 0.0
    stats.update({"rss_mb_after_warmup": round(memory[0], 1) if memory else None,
                  "rss_mb_end": round(memory[-1], 1) if memory else None, "rss_growth": round(growth, 4),
                  "passed": five_xx == 0 and stats["dropped"] == 0 and stats["mismatches"] == 0 and growth < 0.10})
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--warmup-s", type=float, default=30, help="memory is compared from this point on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--out", default="runs/reliability/soak.json")
    args = parser.parse_args()
    env = {"MASKWATCH_LOG_LEVEL": "warning"}
    with server(args.port, 1, env) as (base, proc):
        result = asyncio.run(soak(base, proc.pid, args))
    verdict(result, args.out, f"python -m bench.soak --minutes {args.minutes:g} --concurrency {args.concurrency} "
                              f"--max-requests {args.max_requests}")


if __name__ == "__main__":
    main()
