"""Which backend runs the networks: the one place that decides, importable without torch.

torch runs the networks and everything around them; openvino and onnxruntime run only the networks, exported from
the .pt files at load (models/runtime.py); openvino-ir runs the OpenVINO files `python -m models.export` wrote,
with numpy and OpenCV around them, and needs no torch at all (models/ir_pipeline.py). On a CPU, `auto` is
openvino-ir wherever the weights have a current export. `models.plan.resolve_plan` asks it, once; `models.loading.open_pipeline` builds what the plan says.
"""
import importlib.util
import logging
from pathlib import Path

from models.errors import BackendError
from models.export_format import read_export

BACKENDS = ("torch", "openvino", "onnxruntime", "openvino-ir")
# The runtimes `auto` may pick on a CPU, fastest first: ONNX Runtime is not one, slower than torch on the
# 2-core EPYC (research/results/bench/HISTORY.md, "CPU runtimes"); it stays for hosts where it measures faster.
FASTEST_FIRST = ("openvino",)
# What each runtime needs, as pinned in pyproject.toml: onnx for the export (torch.onnx), then the runtime.
PACKAGES = {"torch": "torch==2.14.1 torchvision==0.29.1", "openvino": "openvino==2026.4.1 onnx==1.23.2",
            "onnxruntime": "onnxruntime==1.32.0 onnx==1.23.2", "openvino-ir": "openvino==2026.4.1"}
PRECISIONS = {"torch": ("fp32", "fp16"), "openvino": ("fp32", "bf16"), "onnxruntime": ("fp32",), "openvino-ir": ("fp32", "bf16", "int8")}
NEEDS = {"torch": ("torch",), "openvino": ("torch", "openvino", "onnx"), "onnxruntime": ("torch", "onnxruntime", "onnx"),
         "openvino-ir": ("openvino",)}

log = logging.getLogger("maskwatch")


def installed(backend: str) -> bool:
    return all(importlib.util.find_spec(package) is not None for package in NEEDS[backend])


def effective_precision(precision: str, device: str) -> str:
    """The precision the networks run at on `device` (a device type): fp16 is for CUDA, and means fp32 elsewhere;
    auto means fp32. int8 and bf16 are never a default: on the pooled held-out images they cost more than a default
    may (research/results/labels/README.md, "The int8 default")."""
    return "fp32" if precision == "auto" or (precision == "fp16" and device != "cuda") else precision


def current_export(model_dir: Path | None, precision: str) -> bool:
    """Whether openvino-ir can run `model_dir`'s weights: installed, for `precision`, and exported from them
    (logging why not, when only the export is missing)."""
    if model_dir is None or not installed("openvino-ir") or precision not in PRECISIONS["openvino-ir"]:
        return False
    try:
        read_export(Path(model_dir) / "openvino")
    except BackendError as err:
        log.warning("backend auto does not run the faster openvino-ir: %s", err)
        return False
    return True


def resolve_backend(backend: str, device: str, precision: str = "fp32", model_dir: str | Path | None = None) -> str:
    """The backend to run on `device` (a device type): `auto` on a CPU is openvino-ir where `model_dir` holds a
    current export (and where torch is missing), else the fastest installed runtime; torch on CUDA.

    Raises BackendError, saying what to change, for an unknown or missing backend, a runtime on CUDA, or a
    precision the backend does not run."""
    on_cpu = device == "cpu"
    precision = effective_precision(precision, device)
    if backend == "auto" and on_cpu and (not installed("torch") or current_export(model_dir, precision)):
        backend = "openvino-ir"
    if backend == "auto":
        runtimes = [b for b in (*FASTEST_FIRST, "torch") if installed(b) and precision in PRECISIONS[b] and (on_cpu or b == "torch")]
        backend = (runtimes or ["torch"])[0]
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}: choose one of auto, {', '.join(BACKENDS)}")
    if backend != "torch" and not on_cpu:
        raise BackendError(f"backend {backend} runs on the CPU only; on {device} use backend torch")
    if not installed(backend):
        raise BackendError(f"backend {backend} is not installed: pip install {PACKAGES[backend]} (or choose another backend)")
    if precision not in PRECISIONS[backend]:
        raise BackendError(f"precision {precision} is not one backend {backend} runs: choose one of {', '.join(PRECISIONS[backend])}")
    return backend
