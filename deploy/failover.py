"""Three MaskWatch replicas behind a real HAProxy (Debian's), under steady upload load: one replica is killed
with SIGKILL and brought back, then every replica is restarted with SIGTERM, one at a time, each waited for
until ready. Counts the failed requests, the 503s and the p99 in each phase. A run, not a test:

    .venv/bin/python deploy/failover.py [--rate 6] [--out research/results/reliability/failover]

HAProxy checks /readyz every second and retries on another replica, after a connection failure, an empty
response (a replica killed mid-request) or a 503. That is safe for every upload route: /v1/classify and
/v1/annotate change nothing. Uploads go through a buffer of 1 MB so that they can be sent again.
"""
import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # a script in deploy/, using the benchmark's helpers

from bench.__main__ import uploads  # noqa: E402
from bench.cameras import free_port  # noqa: E402
from bench.load import BOUNDARY, multipart  # noqa: E402
from training.data import KAGGLE_DATA  # noqa: E402

HAPROXY = """global
    maxconn 256
    tune.bufsize 1048576
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 503
frontend uploads
    bind 127.0.0.1:{port}
    default_backend maskwatch
backend maskwatch
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fall 1 rise 2
{servers}
"""


class Replica:
    def __init__(self, port: int, log: Path):
        self.port, self.log, self.proc = port, log, None

    def start(self) -> None:
        env = {**os.environ, "MASKWATCH_TORCH_THREADS": "1", "MASKWATCH_CPU_THREADS": "1", "MASKWATCH_CAMERAS_ENABLED": "false",
               "MASKWATCH_LOG_LEVEL": "warning"}
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(self.port),
                                          "--timeout-graceful-shutdown", "30"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica on {self.port} never became ready")
            time.sleep(0.2)

    def stop(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(60)


async def load(url: str, bodies: list[bytes], rate: float, stop: threading.Event, log: list) -> None:
    """Uploads every 1/rate s until `stop`; each appends (sent at, status, ms) to `log`."""
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
        async def one(body: bytes, sent: float) -> None:
            try:
                status = (await client.post(f"{url}/v1/classify", content=body, headers=headers)).status_code
            except httpx.HTTPError as err:
                status = type(err).__name__
            log.append((sent, status, (time.monotonic() - sent) * 1000))

        tasks, start, i = [], time.monotonic(), 0
        while not stop.is_set():
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(bodies[i % len(bodies)], time.monotonic())))
            i += 1
        await asyncio.gather(*tasks)


def summary(rows: list) -> dict:
    statuses: dict[str, int] = {}
    for _, status, _ in rows:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    ms = np.array([r[2] for r in rows]) if rows else np.zeros(1)
    return {"requests": len(rows), "statuses": statuses, "failed": sum(n for s, n in statuses.items() if s != "200"),
            "503": statuses.get("503", 0), "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=6.0, help="uploads per second through the balancer")
    parser.add_argument("--steady-s", type=float, default=20.0)
    parser.add_argument("--data", default=KAGGLE_DATA)
    parser.add_argument("--out", default="research/results/reliability/failover")
    args = parser.parse_args()
    bodies = [multipart(b) for b in uploads(args.data, "test")]
    with tempfile.TemporaryDirectory() as tmp:
        replicas = [Replica(free_port(), Path(tmp) / f"replica{i}.log") for i in range(3)]
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_ready()
        port = free_port()
        servers = "\n".join(f"    server r{i} 127.0.0.1:{r.port} check" for i, r in enumerate(replicas))
        (Path(tmp) / "haproxy.cfg").write_text(HAPROXY.format(port=port, servers=servers))
        balancer = subprocess.Popen(["haproxy", "-db", "-f", str(Path(tmp) / "haproxy.cfg")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)  # health checks mark the replicas up
        log, phases, stop = [], {}, threading.Event()
        loader = threading.Thread(target=lambda: asyncio.run(load(f"http://127.0.0.1:{port}", bodies, args.rate, stop, log)))
        loader.start()
        mark = lambda: time.monotonic()  # noqa: E731
        try:
            begin = mark()
            time.sleep(args.steady_s)
            phases["steady"] = (begin, mark())
            begin = mark()
            replicas[0].stop(signal.SIGKILL)
            time.sleep(5)
            replicas[0].start()
            replicas[0].wait_ready()
            time.sleep(3)
            phases["sigkill one replica, then back"] = (begin, mark())
            begin = mark()
            for replica in replicas:
                replica.stop(signal.SIGTERM)
                replica.start()
                replica.wait_ready()
                time.sleep(3)  # two health checks: the balancer sends to it again
            phases["rolling restart (SIGTERM, one at a time)"] = (begin, mark())
        finally:
            stop.set()
            loader.join()
            balancer.terminate()
            for replica in replicas:
                if replica.proc.poll() is None:
                    replica.stop(signal.SIGTERM)
    report = {"rate": args.rate, "replicas": 3, "phases": {name: summary([r for r in log if start <= r[0] < end])
                                                             for name, (start, end) in phases.items()},
              "command": "python deploy/failover.py " + " ".join(sys.argv[1:])}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "failover.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
