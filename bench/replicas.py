"""Replicas sharing PostgreSQL: how long a camera goes unwatched when the replica watching it is SIGKILLed, and
how many database writes a camera costs a minute. A benchmark run, not a test.

    python -m bench.replicas [--tries 10] [--cameras 4] [--minutes 2] [--kills 5] [--only takeover writes lost]
                             [--out research/results/bench/replicas]

Takeover: two replicas (real servers, the default MASKWATCH_HEARTBEAT_S and MASKWATCH_LEASE_S) share a camera
that is never up, which costs nothing to watch. The replica watching it is killed, and the other's answer is
polled every 0.1 s until it says it watches the camera; a new replica then replaces the killed one for the next try.

Writes: one replica watches --cameras cameras, each an RTSP server playing the people clip, analysed at 2 fps, for
--minutes. PostgreSQL's own statistics give the transactions committed and the rows inserted, updated and
deleted in that time, divided by cameras and minutes.

Lost at a kill: two replicas, one camera playing the people clip; the replica watching it is SIGKILLed at --kills
different moments, and what it had not written is read from it just before: the people in view (counted only when
they leave) and the counts waiting in its buffer. A PostgreSQL server of this machine (bench/postgres.py) holds
the database. Each part writes its own file under --out.
"""
import argparse
import json
import re
import signal
import statistics
import tempfile
import time
from contextlib import ExitStack, closing
from pathlib import Path

import httpx
import psycopg

from bench import machine
from bench.cameras import make_clip, rtsp_server
from bench.load import server
from bench.ports import free_port
from bench.postgres import Postgres

NOWHERE = "rtsp://127.0.0.1:9/nothing"


def replica(stack: ExitStack, url: str, name: str, env: dict | None = None) -> tuple[httpx.Client, object]:
    settings = {"MASKWATCH_DATABASE_URL": url, "MASKWATCH_REPLICA_NAME": name, "MASKWATCH_CAMERA_ALLOW_LOCAL": "true", **(env or {})}
    base, proc = stack.enter_context(server(free_port(), 1, settings))
    return stack.enter_context(httpx.Client(base_url=base, timeout=10)), proc


def watched_by(client: httpx.Client, camera: str) -> str | None:
    return client.get(f"/v1/cameras/{camera}").json()["watched_by"]


def wait(condition, timeout_s: float, step_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(step_s)
    raise RuntimeError("timed out")


def takeover(url: str, tries: int) -> list[float]:
    """Seconds from SIGKILL of the watching replica to the other one watching, per try."""
    seconds = []
    with ExitStack() as stack:
        replicas = {name: replica(stack, url, name) for name in ("r0", "r1")}
        replicas["r0"][0].post("/v1/cameras", json={"id": "door", "url": NOWHERE}).raise_for_status()
        for i in range(tries):
            owner = wait(lambda: (o := watched_by(replicas[next(iter(replicas))][0], "door")) in replicas and o, 60)
            survivor = next(name for name in replicas if name != owner)
            replicas.pop(owner)[1].send_signal(signal.SIGKILL)
            killed = time.monotonic()
            wait(lambda: watched_by(replicas[survivor][0], "door") == survivor, 120)
            seconds.append(round(time.monotonic() - killed, 2))
            print(json.dumps({"try": i, "unwatched_s": seconds[-1]}), flush=True)
            replicas[f"r{i + 2}"] = replica(stack, url, f"r{i + 2}")
    return seconds


def lost_at_kill(url: str, tries: int, folder: Path) -> list[dict]:
    """People in view (tracks open, not yet counted) and counts not yet written, on the watching replica just before
    its SIGKILL, on a camera playing the people clip: what the kill loses."""
    clip = make_clip(folder, (1280, 720), 15, 60)  # replayed: each time it ends, the camera reconnects
    lost = []
    with ExitStack() as stack:
        camera_url = stack.enter_context(rtsp_server(clip, free_port()))[0]
        replicas = {name: replica(stack, url, name) for name in ("k0", "k1")}
        replicas["k0"][0].post("/v1/cameras", json={"id": "busy", "url": camera_url, "fps": 2}).raise_for_status()
        for i in range(tries):
            owner = wait(lambda: (o := watched_by(replicas[next(iter(replicas))][0], "busy")) in replicas and o, 60)  # not the killed one's last word
            client, proc = replicas.pop(owner)
            time.sleep(10 + 2.5 * i)  # different moments of the clip
            state = client.get("/v1/cameras/busy").json()
            pending = float(re.search(r"^maskwatch_store_pending (\S+)$", client.get("/metrics").text, re.M)[1])
            proc.send_signal(signal.SIGKILL)
            lost.append({"people_in_view": state["people_in_view"], "counts_pending": int(pending)})
            print(json.dumps({"kill": i, **lost[-1]}), flush=True)
            replicas[f"k{i + 2}"] = replica(stack, url, f"k{i + 2}")
    return lost


def table_writes(url: str) -> tuple[int, int]:
    """(transactions committed in the database, rows inserted + updated + deleted in its tables) so far."""
    with psycopg.connect(url) as db:
        commits = db.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]
        rows = db.execute("SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables").fetchone()[0]
    return int(commits), int(rows)


def writes(url: str, cameras: int, minutes: float, folder: Path) -> dict:
    clip = make_clip(folder, (1280, 720), 15, minutes * 60 + 60)
    with ExitStack() as stack:
        client, _ = replica(stack, url, "writer")
        for i in range(cameras):
            camera_url = stack.enter_context(rtsp_server(clip, free_port()))[0]
            client.post("/v1/cameras", json={"id": f"cam{i}", "url": camera_url, "fps": 2}).raise_for_status()
        time.sleep(15)  # connected and counting
        people = lambda: sum(c["today"]["people"] for c in client.get("/v1/cameras").json()["cameras"])  # noqa: E731
        before, people_before = table_writes(url), people()
        time.sleep(minutes * 60)
        time.sleep(2)  # PostgreSQL publishes its statistics within a second or so
        after, people_after = table_writes(url), people()
    per = cameras * minutes
    return {"cameras": cameras, "minutes": minutes, "people_counted": people_after - people_before,
            "transactions_per_camera_minute": round((after[0] - before[0]) / per, 1),
            "rows_written_per_camera_minute": round((after[1] - before[1]) / per, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=2)
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs of a replica watching a busy camera")
    parser.add_argument("--only", choices=["takeover", "writes", "lost"], nargs="+", default=["takeover", "writes", "lost"])
    parser.add_argument("--out", default="research/results/bench/replicas")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, closing(Postgres.temporary()) as postgres:
        for part in args.only:
            url = postgres.new_database()
            if part == "takeover":
                tries = takeover(url, args.tries)
                result = {"tries": tries, "p50_s": round(statistics.median(tries), 2), "max_s": max(tries)}
            elif part == "writes":
                result = writes(url, args.cameras, args.minutes, Path(tmp))
            else:
                kills = lost_at_kill(url, args.kills, Path(tmp))
                result = {"kills": kills, "people_in_view_mean": round(statistics.mean(k["people_in_view"] for k in kills), 2),
                          "counts_pending_max": max(k["counts_pending"] for k in kills)}
            report = {"machine": machine.describe("cpu"), "args": vars(args), part: result}
            (out / f"{part}.json").write_text(json.dumps(report, indent=1))
            print(json.dumps(report, indent=1), flush=True)

if __name__ == "__main__":
    main()
