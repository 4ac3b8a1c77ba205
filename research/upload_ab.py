"""Upload latency of two checkouts of MaskWatch, alternated: whether a slower run is the code or the machine.

    git worktree add /tmp/before 9212a63 && ln -s "$PWD/.venv" /tmp/before/.venv
    python -m research.upload_ab /tmp/before . [--rounds 2]

Each round starts a real server (service defaults, one worker) from each checkout in turn, warms it with 10
uploads, then sends the first 60 Kaggle test images twice, one at a time, and prints the p50 and p99 in ms.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import httpx

from bench.__main__ import uploads
from bench.cameras import free_port
from training.data import KAGGLE_DATA


def latencies(tree: str, bodies: list[bytes]) -> tuple[float, float]:
    port = free_port()
    env = {**os.environ, "MASKWATCH_LOG_LEVEL": "warning", "MASKWATCH_CAMERAS_DB": ":memory:"}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)], cwd=tree, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while not ready(url):
            time.sleep(0.2)
        with httpx.Client(timeout=30) as client:
            for body in bodies[:10]:
                client.post(f"{url}/v1/classify", files={"image": ("x.jpg", body)})
            ms = []
            for body in bodies * 2:
                start = time.perf_counter()
                client.post(f"{url}/v1/classify", files={"image": ("x.jpg", body)}).raise_for_status()
                ms.append((time.perf_counter() - start) * 1000)
        return round(statistics.median(ms), 1), round(sorted(ms)[int(len(ms) * 0.99)], 1)
    finally:
        server.terminate()
        server.wait()


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz").status_code == 200
    except httpx.TransportError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs=2, help="two checkouts, each with .venv's packages importable")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    bodies = uploads(KAGGLE_DATA, "test")[:60]
    for _ in range(args.rounds):
        for tree in args.trees:
            print(tree, "p50 / p99 ms:", *latencies(tree, bodies), flush=True)


if __name__ == "__main__":
    main()
