"""Which backend runs the networks: the choice, its checks and its errors, importable without torch.

torch runs the networks and everything around them; openvino and onnxruntime run only the networks, exported from
the .pt files at load (models/runtime.py); openvino-ir runs the OpenVINO files `python -m models.export` wrote,
with numpy and OpenCV around them, and needs no torch at all (models/ir_pipeline.py). Where `auto` resolves to
openvino and the weights have a current export, `models.face_pipeline.open_pipeline` runs openvino-ir instead.
"""
import importlib.util

BACKENDS = ("torch", "openvino", "onnxruntime", "openvino-ir")
# The runtimes `auto` may pick on a CPU, fastest first: ONNX Runtime is not one, slower than torch on the
# 2-core EPYC (BENCHMARKS.md, "CPU runtimes"); it stays for hosts where it measures faster.
FASTEST_FIRST = ("openvino",)
# What each runtime needs, as pinned in pyproject.toml: onnx for the export (torch.onnx), then the runtime.
PACKAGES = {"torch": "torch==2.14.1 torchvision==0.29.1", "openvino": "openvino==2026.4.1 onnx==1.23.2",
            "onnxruntime": "onnxruntime==1.32.0 onnx==1.23.2", "openvino-ir": "openvino==2026.4.1"}
PRECISIONS = {"torch": ("fp32", "fp16"), "openvino": ("fp32", "bf16"), "onnxruntime": ("fp32",), "openvino-ir": ("fp32", "bf16")}
NEEDS = {"torch": ("torch",), "openvino": ("torch", "openvino", "onnx"), "onnxruntime": ("torch", "onnxruntime", "onnx"),
         "openvino-ir": ("openvino",)}


class BackendError(RuntimeError):
    """A backend that cannot run here: not installed, not for this device, or a network it cannot load."""


def installed(backend: str) -> bool:
    return all(importlib.util.find_spec(package) is not None for package in NEEDS[backend])


def effective_precision(precision: str, device: str) -> str:
    """The precision the networks run at on `device` (a device type): fp16 is for CUDA, and means fp32 elsewhere."""
    return "fp32" if precision == "fp16" and device != "cuda" else precision


def resolve_backend(backend: str, device: str, precision: str = "fp32") -> str:
    """The backend to run on `device` (a device type): `auto` is the fastest installed one on a CPU (openvino-ir
    where torch is missing), torch on CUDA.

    Raises BackendError, saying what to change, for an unknown or missing backend, a runtime on CUDA, or a
    precision the backend does not run."""
    on_cpu = device == "cpu"
    precision = effective_precision(precision, device)
    if backend == "auto":
        candidates = (*FASTEST_FIRST, "torch") if installed("torch") else ("openvino-ir",)
        runtimes = [b for b in candidates if installed(b) and precision in PRECISIONS[b] and (on_cpu or b == "torch")]
        backend = (runtimes or [candidates[-1]])[0]
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}: choose one of auto, {', '.join(BACKENDS)}")
    if backend != "torch" and not on_cpu:
        raise BackendError(f"backend {backend} runs on the CPU only; on {device} use backend torch")
    if not installed(backend):
        raise BackendError(f"backend {backend} is not installed: pip install {PACKAGES[backend]} (or choose another backend)")
    if precision not in PRECISIONS[backend]:
        raise BackendError(f"precision {precision} is not one backend {backend} runs: choose one of {', '.join(PRECISIONS[backend])}")
    return backend
