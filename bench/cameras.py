"""How many cameras one process watches, and what they cost the uploads: a benchmark run, not a test.

    python -m bench.cameras [--cameras 1 2 4 6] [--fps 2] [--seconds 60] [--size 1280x720] [--source-fps 15]
                            [--upload-rate 4] [--out research/results/bench/cameras]
    python -m bench.cameras --decode-only 4 --seconds 30     # CPU cores one camera's reading and decoding take
    python -m bench.cameras --cameras 12 --regions none site  # each level without zones and lines, then with 5 and 2
    python -m bench.cameras --cameras 4 --databases sqlite postgresql  # the same levels on each database, one after the other

Each camera is a real RTSP server of its own (GStreamer, `bench/streams/rtsp_server.py`) playing an H.264 clip
of people walking in and out. A real server (uvicorn, service defaults) first serves uploads alone: Kaggle
test images at --upload-rate per second, sent on a fixed schedule (open loop). Then, for each camera count, the
cameras are added, warmed up, and the same uploads run beside them. Per level: each camera's achieved fps,
frame lag p99 (from the maskwatch_camera_lag_seconds histogram), dropped frames, the memory each camera
adds, and the uploads' p50 / p99. With `--regions none site`, each level runs twice on the same server: cameras
without zones and lines, then each with SITE's 5 zones and 2 lines. With `--databases sqlite postgresql`, the whole run
is made once on a SQLite file and once on a PostgreSQL server of its own on this machine (bench/postgres.py), whose
CPU is then the cameras' too. Writes cameras.json and cameras.md under --out.
"""
import argparse
import asyncio
import json
import re
import subprocess
import tempfile
import time
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

import httpx
import numpy as np

from bench import machine
from bench.__main__ import size, uploads
from bench.load import BOUNDARY, multipart, server
from bench.ports import free_port
from bench.postgres import Postgres
from bench.soak import rss_mb
from bench.streams import clips
from training.data import KAGGLE_DATA

RTSP_SERVER = Path(__file__).resolve().parent / "streams" / "rtsp_server.py"
# 5 zones (vertical strips) and 2 lines per camera: what a site's cameras carry (app/cameras/zones.py)
SITE = {"zones": [{"name": f"strip{i}", "polygon": [[i / 5, 0], [(i + 1) / 5, 0], [(i + 1) / 5, 1], [i / 5, 1]]} for i in range(5)],
        "lines": [{"name": f"line{i}", "from": [x, 0], "to": [x, 1]} for i, x in enumerate((1 / 3, 2 / 3))]}
REGIONS = {"none": {}, "site": SITE}
LAG = re.compile(r'maskwatch_camera_lag_seconds_bucket\{camera="([^"]+)",le="([^"]+)"\} (\S+)')


def make_clip(folder: Path, frame_size: tuple[int, int], fps: float, seconds: float) -> Path:
    """The people clip at `frame_size` and `fps`, repeated to last `seconds` (each RTSP client starts it anew). Its
    empty gaps (5 s) outlast the default track gap (3 s), so every person in it is one track."""
    scene = clips.people_frames(gap_s=5.0, size=frame_size, fps=fps, lead_s=0)
    frames = scene * max(1, int(np.ceil(seconds * fps / len(scene))))
    return clips.encode(frames, folder / "cameras.mp4", "h264", fps)


@contextmanager
def rtsp_server(clip: Path, port: int):
    proc = subprocess.Popen(["/usr/bin/python3", str(RTSP_SERVER), "--port", str(port), "--file", str(clip)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the RTSP server did not start (bench/streams/rtsp_server.py --check says why)")
        yield f"rtsp://127.0.0.1:{port}/cam", proc
    finally:
        proc.kill()
        proc.wait()


async def upload_load(url: str, bodies: list[bytes], rate: float, seconds: float) -> dict:
    """Uploads sent every 1/rate s whatever the answers (open loop); latency percentiles and status counts."""
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    latencies, statuses = [], {}
    async with httpx.AsyncClient(timeout=60) as client:
        async def one(body: bytes) -> None:
            begin = time.perf_counter()
            try:
                status = (await client.post(f"{url}/v1/classify", content=body, headers=headers)).status_code
            except httpx.HTTPError:
                status = "error"
            latencies.append((time.perf_counter() - begin) * 1000)
            statuses[str(status)] = statuses.get(str(status), 0) + 1

        tasks, start = [], time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(bodies[i % len(bodies)])))
        await asyncio.gather(*tasks)
    values = np.array(latencies)
    return {"requests": len(values), "statuses": statuses, "p50_ms": round(float(np.percentile(values, 50)), 1),
            "p99_ms": round(float(np.percentile(values, 99)), 1), "max_ms": round(float(values.max()), 1)}


def lag_buckets(metrics_text: str) -> dict[str, dict[float, float]]:
    out: dict[str, dict[float, float]] = {}
    for camera, le, count in LAG.findall(metrics_text):
        out.setdefault(camera, {})[float(le)] = float(count)
    return out


def p99_from_buckets(before: dict[float, float], after: dict[float, float]) -> float | None:
    """The 99th percentile of the observations between two scrapes, interpolated inside its bucket."""
    edges = sorted(after)
    counts = [after[e] - before.get(e, 0.0) for e in edges]
    total = counts[-1]
    if total <= 0:
        return None
    target, lower, previous = 0.99 * total, 0.0, 0.0
    for edge, cumulative in zip(edges, counts):
        if cumulative >= target:
            if edge == float("inf"):
                return lower
            return round(lower + (edge - lower) * (target - previous) / max(cumulative - previous, 1e-9), 3)
        lower, previous = edge, cumulative
    return None


def states(client: httpx.Client) -> dict[str, dict]:
    return {c["id"]: c for c in client.get("/v1/cameras").json()["cameras"]}


def run_level(client: httpx.Client, url: str, pid: int, clip: Path, count: int, args, bodies: list[bytes], rss_before: float,
              regions: str = "none") -> dict:
    with ExitStack() as stack:
        urls = [stack.enter_context(rtsp_server(clip, free_port()))[0] for _ in range(count)]
        for i, camera_url in enumerate(urls):
            response = client.post("/v1/cameras", json={"id": f"cam{i}", "url": camera_url, "fps": args.fps, **REGIONS[regions]})
            response.raise_for_status()
        time.sleep(args.warmup)
        first, metrics_before = states(client), lag_buckets(client.get("/metrics").text)
        started = time.monotonic()
        uploads_during = asyncio.run(upload_load(url, bodies, args.upload_rate, args.seconds))
        elapsed = time.monotonic() - started
        last, metrics_after = states(client), lag_buckets(client.get("/metrics").text)
        rss = rss_mb(pid)
        cameras = []
        for name, state in last.items():
            cameras.append({"camera": name, "status": state["status"],
                            "achieved_fps": round((state["frames_analysed"] - first[name]["frames_analysed"]) / elapsed, 2),
                            "dropped": state["frames_dropped"] - first[name]["frames_dropped"],
                            "lag_p99_s": p99_from_buckets(metrics_before.get(name, {}), metrics_after.get(name, {}))})
        for name in last:
            client.delete(f"/v1/cameras/{name}")
    lags = [c["lag_p99_s"] for c in cameras if c["lag_p99_s"] is not None]
    return {"cameras": count, "regions": regions, "per_camera": cameras, "uploads": uploads_during,
            "achieved_fps_min": min(c["achieved_fps"] for c in cameras), "lag_p99_s_max": max(lags) if lags else None,
            "dropped_total": sum(c["dropped"] for c in cameras), "rss_mb": round(rss, 1),
            "mb_per_camera": round((rss - rss_before) / count, 1)}


def decode_cost(clip: Path, count: int, seconds: float) -> dict:
    """CPU cores that reading and decoding alone take per camera: `count` readers in this process, no analysis."""
    from app.cameras.reader import StreamReader

    with ExitStack() as stack:
        urls = [stack.enter_context(rtsp_server(clip, free_port()))[0] for _ in range(count)]
        readers = [StreamReader(f"cam{i}", url) for i, url in enumerate(urls)]
        for reader in readers:
            reader.start()
        time.sleep(5)  # connected and decoding
        cpu, wall, frames = time.process_time(), time.monotonic(), sum(r.frames_read for r in readers)
        time.sleep(seconds)
        cpu, wall, frames = time.process_time() - cpu, time.monotonic() - wall, sum(r.frames_read for r in readers) - frames
        for reader in readers:
            reader.stop(5)
    return {"cameras": count, "seconds": round(wall, 1), "frames_per_s_per_camera": round(frames / wall / count, 1),
            "cores_per_camera": round(cpu / wall / count, 4)}


def markdown(report: dict) -> str:
    a = report["args"]
    lines = [f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores. Each camera: RTSP (H.264, {a['size']} at "
             f"{a['source_fps']} fps) analysed at {a['fps']} fps; uploads: Kaggle test images at {a['upload_rate']}/s for "
             f"{a['seconds']} s per level.", "",
             *[f"Uploads alone, {db}: p50 {base['p50_ms']} ms, p99 {base['p99_ms']} ms ({base['statuses']}); server RSS "
               f"{report['rss_alone_mb'][db]} MB." for db, base in report["uploads_alone"].items()], "",
             "| cameras | zones, lines | database | achieved fps (min) | lag p99 s (max) | dropped frames | upload p50 ms | upload p99 ms | p99 vs alone | MB per camera |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["levels"]:
        u, site = r["uploads"], REGIONS[r.get("regions", "none")]
        lines.append(f"| {r['cameras']} | {len(site.get('zones', []))}, {len(site.get('lines', []))} | {r['database']} | {r['achieved_fps_min']} | "
                     f"{r['lag_p99_s_max']} | {r['dropped_total']} | {u['p50_ms']} | "
                     f"{u['p99_ms']} | {u['p99_ms'] / report['uploads_alone'][r['database']]['p99_ms']:.2f}x | {r['mb_per_camera']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4, 6])
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per level")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds each level's cameras run before measuring")
    parser.add_argument("--size", type=size, default=(1280, 720), help="camera frame size WxH")
    parser.add_argument("--source-fps", type=float, default=15.0, help="frames per second the cameras send")
    parser.add_argument("--upload-rate", type=float, default=4.0, help="uploads per second")
    parser.add_argument("--data", default=KAGGLE_DATA, help="VOC folder whose test part is uploaded")
    parser.add_argument("--decode-only", type=int, metavar="N", help="only measure what N cameras' decoding costs (no server)")
    parser.add_argument("--regions", nargs="+", choices=sorted(REGIONS), default=["none"],
                        help="run each level once per choice: no zones or lines, or a site's 5 zones and 2 lines")
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite"],
                        help="run everything on each: the SQLite file, then a PostgreSQL server of this machine")
    parser.add_argument("--out", default="research/results/bench/cameras")
    args = parser.parse_args()
    if args.decode_only:
        with tempfile.TemporaryDirectory() as tmp:
            clip = make_clip(Path(tmp), args.size, args.source_fps, args.seconds + 30)
            result = {"args": {**vars(args), "size": f"{args.size[0]}x{args.size[1]}"}, **decode_cost(clip, args.decode_only, args.seconds)}
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "decode_cost.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result))
        return
    bodies = [multipart(b) for b in uploads(args.data, "test")]
    alone, rss_alone, levels = {}, {}, []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        clip = make_clip(Path(tmp), args.size, args.source_fps, args.seconds + args.warmup + 30)
        for database in args.databases:
            env = {"MASKWATCH_CAMERAS_DB": str(Path(tmp) / f"{database}.db"), "MASKWATCH_MAX_CAMERAS": str(max(args.cameras))}
            if database == "postgresql":
                env["MASKWATCH_DATABASE_URL"] = stack.enter_context(closing(Postgres.temporary())).new_database()
            with server(free_port(), 1, env) as (url, proc), httpx.Client(base_url=url, timeout=30) as client:
                asyncio.run(upload_load(url, bodies, args.upload_rate, 5))  # warm up
                alone[database] = asyncio.run(upload_load(url, bodies, args.upload_rate, args.seconds))
                rss_alone[database] = round(rss_mb(proc.pid), 1)
                for count in args.cameras:
                    for regions in args.regions:
                        levels.append({"database": database, **run_level(client, url, proc.pid, clip, count, args, bodies, rss_alone[database], regions)})
                        print(json.dumps({k: v for k, v in levels[-1].items() if k != "per_camera"}), flush=True)
    report = {"machine": machine.describe("cpu"), "args": {**vars(args), "size": f"{args.size[0]}x{args.size[1]}"},
              "uploads_alone": alone, "rss_alone_mb": rss_alone, "levels": levels}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cameras.json").write_text(json.dumps(report, indent=1))
    (out / "cameras.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
