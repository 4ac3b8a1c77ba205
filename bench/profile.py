"""Where a model batch's time goes: torch.profiler over a few batches at the service's settings.

    python -m bench.profile [--data VOC_DIR [--part test]] [--device cpu|cuda] [--precision fp16] [--batch 16] [--out DIR]

Prints, and writes as profile_bB.json and .md under --out, the ops with the most self time on the host and, on
CUDA, the kernels with the most time on the device, each with calls, host ms and device ms per batch: whether
a batch waits on Python launching kernels or on the kernels themselves. The first line gives the batch's wall
time without the profiler.
"""
import argparse
import json
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from app.settings import Settings
from bench.machine import describe
from bench.pipeline import FIXTURE
from models.pipeline import Job, MaskPipeline
from training.splits import SPLIT_FILES, load_split
from training.voc import read_voc


def batches(data: str, part: str | None, pipeline: MaskPipeline, size: int, count: int) -> list[list[Job]]:
    """`count` batches of `size` images taken in turn, shrunk as the service's decode threads do."""
    voc = read_voc(data)
    if part:
        wanted = set(load_split(SPLIT_FILES["image"])[part])
        voc = [im for im in voc if im.stem in wanted]
    rgbs = [im.load_rgb() for im in voc]
    picks = [rgbs[i % len(rgbs)] for i in range(size * count)]
    return [[Job(rgb, small=pipeline.shrink(rgb)) for rgb in picks[b * size:(b + 1) * size]] for b in range(count)]


def wall_ms(pipeline: MaskPipeline, work: list[list[Job]]) -> float:
    start = time.perf_counter()
    for jobs in work:
        pipeline.run(jobs)
    if pipeline.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000 / len(work)


def top_ops(pipeline: MaskPipeline, work: list[list[Job]], top: int) -> dict[str, list[dict]]:
    """The `top` ops by self host time and, on CUDA, the `top` kernels by self device time, per batch."""
    cuda = pipeline.device.type == "cuda"
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        wall_ms(pipeline, work)
    events = prof.key_averages()
    per_batch = lambda us: round(us / 1000 / len(work), 3)  # noqa: E731
    row = lambda e: {"op": e.key, "calls": round(e.count / len(work), 1), "host_ms": per_batch(e.self_cpu_time_total),  # noqa: E731
                     "device_ms": per_batch(e.self_device_time_total)}
    tables = {"host": [row(e) for e in sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]]}
    if cuda:
        tables["device"] = [row(e) for e in sorted(events, key=lambda e: e.self_device_time_total, reverse=True)[:top]]
    tables["totals"] = [{"op": "all", "calls": round(sum(e.count for e in events) / len(work), 1),
                         "host_ms": per_batch(sum(e.self_cpu_time_total for e in events)),
                         "device_ms": per_batch(sum(e.self_device_time_total for e in events))}]
    return tables


def markdown(report: dict) -> str:
    lines = [f"# Profile: batch {report['batch']} on {report['machine']['gpu'] or report['machine']['cpu']}", "",
             f"Wall time without the profiler: {report['wall_ms']} ms per batch ({report['images_per_s']} images/s, "
             f"{report['precision']}).", ""]
    for name, rows in report["ops"].items():
        lines += [f"## By self {name} time" if name != "totals" else "## Every op together", "",
                  "| op | calls per batch | self host ms | self device ms |", "|---|---|---|---|"]
        lines += [f"| `{r['op'][:90]}` | {r['calls']} | {r['host_ms']} | {r['device_ms']} |" for r in rows] + [""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=FIXTURE, help="VOC folder whose images are used")
    parser.add_argument("--part", choices=("train", "val", "test"), help="only this part of the saved image split")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=5, help="batches timed and profiled, after two to warm up")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", default="runs/bench/profile")
    args = parser.parse_args()
    if args.batch < 1 or args.batches < 1:
        parser.error("--batch and --batches must be at least 1")
    served = Settings()
    pipeline = MaskPipeline(device=args.device, precision=args.precision, scale=served.detector_scale,
                            score_floor=served.detector_score_floor)
    pipeline.warm_up(args.batch)
    work = batches(args.data, args.part, pipeline, args.batch, args.batches + 2)
    wall_ms(pipeline, work[:2])
    ms = wall_ms(pipeline, work[2:])
    report = {"machine": describe(args.device), "precision": pipeline.precision, "batch": args.batch,
              "batches": args.batches, "wall_ms": round(ms, 2), "images_per_s": round(1000 * args.batch / ms, 1),
              "ops": top_ops(pipeline, work[2:], args.top)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"profile_b{args.batch}.json").write_text(json.dumps(report, indent=1))
    (out / f"profile_b{args.batch}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
