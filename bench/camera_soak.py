"""Soak the cameras: several RTSP cameras for --minutes, one of their servers killed every --kill-every seconds
(in turn) and started again --down-s later, with uploads running all along. A benchmark run, not a test.

    python -m bench.camera_soak [--minutes 10] [--cameras 4] [--kill-every 60] [--down-s 5] [--upload-rate 2]
                                [--out research/results/reliability/camera_soak]

Passes when: no 5xx from uploads or the camera API, no stuck camera (each killed camera is `up` again within
--recover-s of its server's return, and every camera whose server is up analyses frames), and flat memory
(the last quarter's mean RSS within 10% of the second quarter's). Writes camera_soak.json and memory.png.
"""
import argparse
import asyncio
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.__main__ import size, uploads  # noqa: E402
from bench.cameras import free_port, make_clip, rtsp_server, upload_load  # noqa: E402
from bench.load import multipart, server  # noqa: E402
from bench.report import verdict  # noqa: E402
from bench.soak import rss_mb  # noqa: E402
from training.data import KAGGLE_DATA  # noqa: E402


def plot_memory(samples: list[tuple[float, float]], kills: list[float], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot([t / 60 for t, _ in samples], [m for _, m in samples], label="server RSS")
    for t in kills:
        ax.axvline(t / 60, color="tab:red", alpha=0.3, linewidth=1)
    ax.set_xlabel("minutes (red: a camera's RTSP server killed)")
    ax.set_ylabel("MB")
    ax.set_title("Camera soak: server memory")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--kill-every", type=float, default=60)
    parser.add_argument("--down-s", type=float, default=5)
    parser.add_argument("--recover-s", type=float, default=30, help="a camera must be up again this soon after its server")
    parser.add_argument("--size", type=size, default=(1280, 720))
    parser.add_argument("--source-fps", type=float, default=15.0)
    parser.add_argument("--upload-rate", type=float, default=2.0)
    parser.add_argument("--data", default=KAGGLE_DATA)
    parser.add_argument("--out", default="research/results/reliability/camera_soak")
    args = parser.parse_args()
    seconds = args.minutes * 60
    bodies = [multipart(b) for b in uploads(args.data, "test")]
    failures, samples, kills, api_5xx, stuck, recoveries = [], [], [], 0, [], []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        clip = make_clip(Path(tmp), args.size, args.source_fps, 120)
        ports = [free_port() for _ in range(args.cameras)]
        servers = {i: stack.enter_context(rtsp_server(clip, port)) for i, port in enumerate(ports)}
        env = {"MASKWATCH_CAMERAS_DB": str(Path(tmp) / "cameras.db"), "MASKWATCH_CAMERA_BACKOFF_MAX_S": "10"}
        url, proc = stack.enter_context(server(free_port(), 1, env))
        client = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        for i, port in enumerate(ports):
            client.post("/v1/cameras", json={"id": f"cam{i}", "url": f"rtsp://127.0.0.1:{port}/cam", "fps": args.fps}).raise_for_status()
        load_result = {}
        loader = threading.Thread(target=lambda: load_result.update(asyncio.run(upload_load(url, bodies, args.upload_rate, seconds))))
        start = time.monotonic()
        loader.start()
        down: dict[int, tuple[float, float]] = {}  # camera -> (killed at, back at)
        last_frames: dict[str, tuple[int, float]] = {}
        next_kill, victim = args.kill_every, 0
        while (now := time.monotonic() - start) < seconds:
            if now >= next_kill:
                stack_proc = servers[victim][1]
                stack_proc.kill()
                stack_proc.wait()
                down[victim] = (now, now + args.down_s)
                kills.append(now)
                next_kill, victim = next_kill + args.kill_every, (victim + 1) % args.cameras
            for i, (_, back_at) in list(down.items()):
                if now >= back_at and servers[i][1].poll() is not None:
                    servers[i] = stack.enter_context(rtsp_server(clip, ports[i]))
            response = client.get("/v1/cameras")
            if response.status_code >= 500:
                api_5xx += 1
                continue
            for state in response.json()["cameras"]:
                i = int(state["id"][3:])
                serving = servers[i][1].poll() is None
                frames, since = last_frames.get(state["id"], (-1, now))
                if state["frames_analysed"] != frames:
                    last_frames[state["id"]] = (state["frames_analysed"], now)
                elif serving and i in down and now - down[i][1] > args.recover_s:
                    stuck.append({"camera": state["id"], "at_s": round(now, 1), "status": state["status"], "last_error": state["last_error"]})
                if i in down and state["status"] == "up" and state["frames_analysed"] != frames and now > down[i][1]:
                    recoveries.append({"camera": state["id"], "back_after_s": round(now - down[i][1], 1)})
                    del down[i]
                elif serving and i not in down and now - since > args.recover_s:
                    stuck.append({"camera": state["id"], "at_s": round(now, 1), "status": state["status"], "last_error": state["last_error"]})
            if not samples or now - samples[-1][0] >= 5:
                samples.append((now, rss_mb(proc.pid)))
            time.sleep(1)
        loader.join()
        final = {c["id"]: c for c in client.get("/v1/cameras").json()["cameras"]}
    quarter = len(samples) // 4
    second = sum(m for _, m in samples[quarter:2 * quarter]) / max(1, quarter)
    last = sum(m for _, m in samples[-quarter:]) / max(1, quarter)
    upload_5xx = sum(n for code, n in load_result["statuses"].items() if code.startswith("5") or code == "error")
    if upload_5xx or api_5xx:
        failures.append(f"{upload_5xx} uploads and {api_5xx} camera API calls failed with 5xx or no answer")
    if stuck:
        failures.append(f"stuck cameras: {stuck[:5]}")
    if len(recoveries) < len(kills) - 1:  # the last kill may fall too near the end to recover in time
        failures.append(f"{len(kills)} kills but {len(recoveries)} recoveries")
    if last > 1.10 * second:
        failures.append(f"memory grew from {second:.0f} MB (second quarter) to {last:.0f} MB (last quarter)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_memory(samples, kills, out / "memory.png")
    report = {"args": {**vars(args), "size": f"{args.size[0]}x{args.size[1]}"}, "uploads": load_result, "camera_api_5xx": api_5xx,
              "kills": len(kills), "recoveries": recoveries, "stuck": stuck,
              "memory_mb": {"second_quarter": round(second, 1), "last_quarter": round(last, 1), "samples": samples},
              "cameras": {k: {f: v[f] for f in ("status", "frames_analysed", "frames_dropped", "reconnects", "today")} for k, v in final.items()}}
    report.update(passed=not failures, failures=failures)
    verdict(report, str(out / "camera_soak.json"), "python -m bench.camera_soak " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
