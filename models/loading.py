"""`open_pipeline`: the pipeline a runtime plan names, on the weights of a folder. What the service, the command
line and the evaluation call."""
from pathlib import Path

from models.defaults import WEIGHTS
from models.face_pipeline import FacePipeline
from models.plan import RuntimePlan


def open_pipeline(plan: RuntimePlan, model_dir: str | Path = WEIGHTS, static_shapes: bool = True, **options) -> FacePipeline:
    """`IRPipeline` on the exported `model_dir/openvino` for openvino-ir (its detector on static input shapes unless
    `static_shapes` is false), else `MaskPipeline` on `model_dir`'s detector.pt and classifier.pt, as `plan`
    (`models.plan.resolve_plan`) says; `options` go to the pipeline (min_confidence, max_faces, scale, score_floor)."""
    model_dir = Path(model_dir)
    if plan.backend == "openvino-ir":
        from models.ir_pipeline import IRPipeline  # here: it needs openvino, which a torch host may lack

        return IRPipeline(model_dir / "openvino", precision=plan.precision, threads=plan.threads, static_shapes=static_shapes, **options)
    import torch  # here: a host without torch runs openvino-ir above

    from models.pipeline import MaskPipeline

    torch.set_num_threads(plan.threads)
    return MaskPipeline(model_dir / "detector.pt", model_dir / "classifier.pt", plan.device, precision=plan.precision,
                        backend=plan.backend, **options)
