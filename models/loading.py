"""`open_pipeline`: the pipeline a backend runs, on the weights of a folder. What the service, the command line
and the evaluation call."""
import os
from pathlib import Path

from models.backends import resolve_backend
from models.defaults import WEIGHTS
from models.face_pipeline import FacePipeline


def open_pipeline(backend: str = "auto", device: str = "cpu", precision: str = "auto", model_dir: str | Path = WEIGHTS,
                  threads: int = 0, static_shapes: bool = True, **options) -> FacePipeline:
    """The pipeline for the backend `models.backends.resolve_backend` chooses: `IRPipeline` on the exported
    `model_dir/openvino` for openvino-ir (its detector on static input shapes unless `static_shapes` is false), else
    `MaskPipeline` on `model_dir`'s detector.pt and classifier.pt. `threads` run the networks (0: the CPUs this
    process may use); `precision` auto is int8 on openvino-ir where the export has int8 networks, else fp32, as
    the service's default; `options` go to the pipeline (min_confidence, max_faces, scale, score_floor). Raises
    BackendError for a backend that cannot run here."""
    model_dir, threads = Path(model_dir), threads or len(os.sched_getaffinity(0))
    chosen = resolve_backend(backend, str(device).split(":")[0], precision, model_dir)
    if chosen == "openvino-ir":
        from models.ir_pipeline import IRPipeline  # here: it needs openvino, which a torch host may lack

        return IRPipeline(model_dir / "openvino", precision=precision, threads=threads, static_shapes=static_shapes, **options)
    import torch  # here: a host without torch runs openvino-ir above

    from models.pipeline import MaskPipeline

    torch.set_num_threads(threads)
    return MaskPipeline(model_dir / "detector.pt", model_dir / "classifier.pt", device, precision=precision, backend=chosen, **options)
