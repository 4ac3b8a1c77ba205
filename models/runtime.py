"""CPU inference runtimes for the networks: OpenVINO or ONNX Runtime instead of eager PyTorch.

The shipped .pt files stay the one source of weights: at load, each network is exported to ONNX in memory
(about a second for both) and handed to the runtime; nothing is written to disk. Only the networks move:
resizing, anchors, box decoding and suppression stay in torch, so every backend gives the same faces up to
float rounding (tests/test_runtime.py). Speed and accuracy per backend: research/results/bench/HISTORY.md, "CPU runtimes".
"""
import io
import warnings
from functools import partial
from typing import Callable

import numpy as np
import torch
from torch import nn

from models.backends import BackendError


def compiler(backend: str, precision: str = "fp32", threads: int = 0) -> Callable[[nn.Module, torch.Tensor, list[str]], Callable]:
    """`compile_network` for `backend`, with `threads` threads (0 = torch's); what `FaceFCOS.use_runtime` takes."""
    return partial(compile_network, backend=backend, threads=threads or torch.get_num_threads(), precision=precision)


def onnx_bytes(module: nn.Module, example: torch.Tensor, outputs: list[str]) -> bytes:
    """`module` exported to ONNX with a dynamic batch and image size. The TorchScript exporter: the torch.export one
    needs onnxscript, and this network has no control flow it would trace better."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the legacy exporter's deprecation and GroupNorm's traced batch-size check
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (example,), buffer, dynamo=False, input_names=["x"], output_names=outputs,
                          dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"}}, opset_version=17)
    return buffer.getvalue()


def compile_network(module: nn.Module, example: torch.Tensor, outputs: list[str], backend: str, threads: int,
                    precision: str = "fp32") -> Callable[[torch.Tensor], tuple[torch.Tensor, ...]]:
    """`module` run by `backend` on the CPU with `threads` threads: a function of a float tensor returning `outputs`
    as float tensors. A network the runtime cannot load raises BackendError."""
    if backend not in ("openvino", "onnxruntime"):
        raise BackendError(f"backend {backend} does not run networks exported at load: models.loading.open_pipeline picks its pipeline")
    model = onnx_bytes(module, example, outputs)
    try:
        run = _openvino(model, threads, precision) if backend == "openvino" else _onnxruntime(model, threads)
    except Exception as err:
        raise BackendError(f"{backend} could not load the exported network: {type(err).__name__}: {err}") from err
    return lambda x: tuple(torch.from_numpy(a) for a in run(np.ascontiguousarray(x.numpy(), dtype=np.float32)))


def _openvino(model: bytes, threads: int, precision: str) -> Callable[[np.ndarray], list[np.ndarray]]:
    import openvino

    # The precision is set either way: on a CPU with bf16 units OpenVINO's default is bf16, not fp32.
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
              "PERFORMANCE_HINT": "LATENCY"}
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(model, b""), "CPU", config)
    request = compiled.create_infer_request()  # one request, reused: the service calls from one thread
    return lambda x: list(request.infer([x]).to_tuple())


def _onnxruntime(model: bytes, threads: int) -> Callable[[np.ndarray], list[np.ndarray]]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})
