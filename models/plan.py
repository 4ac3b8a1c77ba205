"""The runtime plan: every choice about how the networks run (device, backend, precision, copies, child process,
threads, batch size), resolved once, at start-up or by a command line, into one frozen value that the loaders
take as it is. `models.backends` says which backend can run where; this module is the one that asks it."""
import os
from dataclasses import dataclass
from pathlib import Path

from models.backends import effective_precision, resolve_backend
from models.defaults import WEIGHTS
from models.errors import BackendError

NVIDIA_DRIVER = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg")


@dataclass(frozen=True)
class RuntimePlan:
    device: str  # cpu, cuda:N
    backend: str  # torch, openvino, onnxruntime, openvino-ir
    precision: str  # fp32, fp16 (CUDA), bf16, int8 (openvino-ir): what the networks run at, never auto
    threads: int  # threads running the networks, per copy
    model_copies: int  # copies of the networks run side by side, each by a thread of its own
    model_process: bool  # the networks run in a child process with an interpreter lock of its own
    batch_size: int  # most images in one model batch
    cpu_threads: int  # threads decoding and drawing images

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]


def available_cpus() -> int:
    return len(os.sched_getaffinity(0))


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU. Without an NVIDIA driver (its /proc entry or device nodes; WSL's /dev/dxg) it
    cannot, and torch, 2.4 s of a CPU server's start, is not imported to ask."""
    if not any(Path(p).exists() for p in NVIDIA_DRIVER):
        return False
    try:
        import torch  # only here: a CPU host may run openvino-ir without torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def resolve_device(device: str) -> str:
    """`auto` is CUDA where torch sees a GPU, else the CPU; CUDA asked for where there is none raises BackendError."""
    if device == "auto" or device.startswith("cuda"):
        has_cuda = cuda_available()
        if device == "auto":
            return "cuda:0" if has_cuda else "cpu"
        if not has_cuda:
            raise BackendError(f"device {device} was asked for, but there is no CUDA GPU here (or no torch): choose device cpu or auto")
    return device


def resolve_plan(device: str = "auto", backend: str = "auto", precision: str = "auto", model_dir: str | Path = WEIGHTS,
                 threads: int = 0, model_copies: int = 0, batch_max_size: int = 0, model_process: bool | None = None,
                 cpu_threads: int = 0) -> RuntimePlan:
    """The plan for these settings (0 and None mean: decide here). Raises BackendError, saying what to change, for
    settings that cannot run on this host."""
    device = resolve_device(device)
    device_type = device.split(":")[0]
    backend = resolve_backend(backend, device_type, precision, model_dir)
    in_child = device_type == "cuda" if model_process is None else model_process
    # torch's OpenMP teams slow each other down: copies side by side on openvino-ir only (BENCHMARKS.md, "The CPU pipeline")
    copies = 1 if backend != "openvino-ir" or in_child else model_copies or min(2, available_cpus())
    # on a CPU a padded batch is slower than the images one by one
    batch = batch_max_size or (16 if device_type == "cuda" else 1)
    return RuntimePlan(device=device, backend=backend, precision=effective_precision(precision, device_type),
                       threads=threads or available_cpus(), model_copies=copies, model_process=in_child, batch_size=batch,
                       cpu_threads=cpu_threads or available_cpus())
