"""Fuzz the upload and decode path with mutated real images against a real server.

    python -m bench.fuzz [--count 3000] [--concurrency 8] [--out research/results/reliability/fuzz.json]

Mutations: random byte flips (anywhere, or in the header), truncation, PNG IHDR / JPEG SOF size edits,
format swaps (JPEG, WebP, BMP re-encodes of the fixtures, then mutated). Every answer must be 200 or a
documented 4xx (400, 413, 415) within --timeout seconds: no 5xx, no hang, no dropped connection.
"""
import argparse
import asyncio
import io
import random
import struct
import time
from pathlib import Path

import httpx
from PIL import Image

from bench.load import server
from bench.report import verdict

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "voc" / "images"
ALLOWED = {200, 400, 413, 415}


def _flip(data: bytearray, rng: random.Random, window: int) -> None:
    for _ in range(rng.randint(1, 20)):
        i = rng.randrange(min(window, len(data)))
        data[i] = rng.randrange(256)


def _edit_size(data: bytearray, rng: random.Random) -> None:
    size = rng.choice([0, 1, 65535, 2**31 - 1, rng.randrange(1, 100_000)])
    if data.startswith(b"\x89PNG") and len(data) > 24:
        data[16:24] = struct.pack(">II", size, rng.choice([size, 1, 100_000]))
    elif (sof := data.find(b"\xff\xc0")) > 0 and len(data) > sof + 9:
        data[sof + 5:sof + 9] = struct.pack(">HH", size & 0xFFFF, rng.randrange(65536))


def mutate(original: bytes, rng: random.Random) -> bytes:
    """One random mutation (sometimes two) of an image file."""
    data = bytearray(original)
    for _ in range(rng.choice([1, 1, 2])):
        kind = rng.choice(["flip", "header", "truncate", "size"])
        if kind == "flip":
            _flip(data, rng, len(data))
        elif kind == "header":
            _flip(data, rng, 64)
        elif kind == "truncate":
            del data[rng.randrange(1, len(data)):]
        else:
            _edit_size(data, rng)
    return bytes(data)


def corpus() -> list[bytes]:
    """The fixtures as PNG plus JPEG, WebP and BMP re-encodes."""
    files = [p.read_bytes() for p in sorted(FIXTURES.glob("*.png"))]
    out = list(files)
    for fmt in ("JPEG", "WEBP", "BMP"):
        buf = io.BytesIO()
        Image.open(io.BytesIO(files[0])).convert("RGB").save(buf, fmt)
        out.append(buf.getvalue())
    return out


async def fuzz(base: str, count: int, concurrency: int, timeout: float, seed: int) -> dict:
    rng, originals = random.Random(seed), corpus()
    uploads = [mutate(originals[i % len(originals)], rng) for i in range(count)]
    statuses: dict[str, int] = {}
    slowest = 0.0
    pending = iter(uploads)
    async with httpx.AsyncClient(timeout=timeout) as client:
        async def worker() -> None:
            nonlocal slowest
            for data in pending:
                start = time.perf_counter()
                try:
                    r = await client.post(f"{base}/v1/classify", files={"image": ("fuzz", data)})
                    key = str(r.status_code)
                except httpx.HTTPError as err:
                    key = type(err).__name__
                slowest = max(slowest, time.perf_counter() - start)
                statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        alive = (await client.get(f"{base}/healthz")).status_code == 200
    bad = {k: v for k, v in statuses.items() if not (k.isdigit() and int(k) in ALLOWED)}
    return {"uploads": count, "statuses": statuses, "unexpected": bad, "slowest_s": round(slowest, 2),
            "alive_after": alive, "passed": not bad and alive}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before an answer counts as a hang")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--out", default="runs/reliability/fuzz.json")
    args = parser.parse_args()
    with server(args.port, 1, {}) as (base, _):
        result = asyncio.run(fuzz(base, args.count, args.concurrency, args.timeout, args.seed))
    verdict(result, args.out, f"python -m bench.fuzz --count {args.count} --concurrency {args.concurrency} --seed {args.seed}")


if __name__ == "__main__":
    main()
