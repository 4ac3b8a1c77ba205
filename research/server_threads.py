"""Where a loaded server's CPU time goes, thread by thread: what bounds its images/s on a small CPU.

    pip install py-spy   # names the threads
    python -m research.server_threads --env MASKWATCH_MODEL_COPIES=1 --out research/results/bench/cpu/copies/threads_1copy.txt

Starts a server with the service defaults and each --env, sends --warm-up uploads of the Kaggle test images at
--concurrency, then --requests more, and prints each thread's CPU time (user + system, /proc/PID/task/TID/stat)
over them, per image. Python threads are named by `py-spy dump`; the others (OpenVINO's workers) are "native".
"""
import argparse
import os
import shutil
import subprocess
from pathlib import Path

from bench import load
from bench.__main__ import uploads


def thread_cpu(pid: int) -> dict[int, float]:
    """Seconds of CPU each thread of `pid` has used."""
    used = {}
    for tid in map(int, os.listdir(f"/proc/{pid}/task")):
        try:
            used[tid] = load.cpu_seconds(pid, tid)
        except FileNotFoundError:  # the thread ended
            continue
    return used


def thread_names(pid: int) -> dict[int, str]:
    """Python thread names by thread id, from `py-spy dump` where it is installed."""
    if shutil.which("py-spy") is None:
        return {}
    dump = subprocess.run(["py-spy", "dump", "-p", str(pid)], capture_output=True, text=True).stdout
    names = {}
    for line in dump.splitlines():  # Thread 1234 (idle): "MainThread"
        if line.startswith("Thread "):
            names[int(line.split()[1])] = line.rsplit(":", 1)[1].strip().strip('"')
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/face-mask-detection")
    parser.add_argument("--env", nargs="*", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--warm-up", type=int, default=64)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--out", help="also write the table here")
    args = parser.parse_args()
    posts = [load.multipart(b) for b in uploads(args.data, "test")]
    env = {"MASKWATCH_MAX_IN_FLIGHT": "100000", "MASKWATCH_CAMERAS_DB": ":memory:",
           **dict(item.split("=", 1) for item in args.env)}
    with load.client_pool(1) as pool, load.server(args.port, 1, env) as (base, proc):
        load.run_level(pool, base, "/v1/classify", posts, args.concurrency, args.warm_up, 1)
        before = thread_cpu(proc.pid)
        row = load.run_level(pool, base, "/v1/classify", posts, args.concurrency, args.requests, 1)
        after, names = thread_cpu(proc.pid), thread_names(proc.pid)
    per_image = {tid: (after[tid] - before.get(tid, 0)) * 1000 / args.requests for tid in after}
    lines = [f"server env {env}; concurrency {args.concurrency}, {args.requests} uploads: {row['images_per_s']:.1f} images/s, "
             f"p50 {row['p50_ms']:.1f} ms, statuses {row['statuses']}",
             f"server CPU per image: {sum(per_image.values()):.2f} ms", "", "| thread | CPU ms per image |", "|---|---|"]
    lines += [f"| {names.get(tid, 'native')} ({tid}) | {ms:.2f} |"
              for tid, ms in sorted(per_image.items(), key=lambda item: -item[1]) if ms >= 0.05]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
