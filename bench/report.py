"""bench.json -> a Markdown page; the pass/fail JSON of the reliability scripts."""
import json
from pathlib import Path


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]


def markdown(report: dict) -> str:
    m, a = report["machine"], report["args"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, GPU {m['gpu'] or 'none'}; torch {m['torch']}, python {m['python']}.",
             f"Device {a['device']} ({a['precision']}), {report['images']} images from {a['data']}"
             + (f" ({a['part']} part)" if a["part"] else "") + f"; {a['workers']} uvicorn worker(s), "
             f"micro-batches of at most {a['batch_max_size'] or 'auto (16 CUDA, 1 CPU)'} waiting at most {a['batch_max_wait_ms']} ms; "
             f"models in a child process: {a.get('model_process', 'auto')} (auto = on CUDA only).", ""]
    if report["model"]:
        lines += ["Model only (mean ms per batch; images/s = batch / (detect + classify)):", ""]
        lines += _table(["batch", "decode", "detect", "classify", "annotate", "faces per batch", "model images/s"],
                        [[r["batch"], r["decode"], r["detect"], r["classify"], r["annotate"], r["faces"], r["model_images_per_s"]]
                         for r in report["model"]])
        lines.append("")
    if report["http"]:
        null = {r["concurrency"]: r for r in report["http"] if r["route"] == "/v1/null"}
        rows = []
        for r in (r for r in report["http"] if r["route"] == "/v1/classify"):
            n = null.get(r["concurrency"])
            ratio = f"{r['images_per_s'] / n['images_per_s']:.0%}" if n and n["images_per_s"] else "-"
            rows.append([r["concurrency"], r["requests"], r["images_per_s"], r["p50_ms"], r["p95_ms"], r["p99_ms"],
                         r["healthz_max_ms"], n["images_per_s"] if n else "-", ratio,
                         ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items())),
                         ", ".join(f"{k} {v}" for k, v in r.get("server_mean_ms", {}).items())])
        lines += ["End to end over HTTP (/v1/classify; null = /v1/null, same app without the model):", ""]
        lines += _table(["concurrency", "requests", "images/s", "p50 ms", "p95 ms", "p99 ms", "healthz max ms",
                         "null images/s", "vs null", "statuses", "server's mean split (ms)"], rows)
        lines.append("")
    return "\n".join(lines)


def verdict(result: dict, out: str, command: str) -> None:
    """Write a reliability script's result (with its command) to `out`, print it, exit 0 only if it passed."""
    result["command"] = command
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    raise SystemExit(0 if result["passed"] else 1)


def save(out: str, name: str, report: dict, text: str) -> None:
    """Write `report` as NAME.json and its table `text` as NAME.md under `out`, and print the table."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(report, indent=1))
    (folder / f"{name}.md").write_text(text)
    print(text)
