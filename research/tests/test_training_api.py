"""The part of `training` that research scripts may use (research/README.md, "What research may use from
training"): research imports nothing else from it, and every name listed still exists, so a training refactor
that moves one fails here rather than in a research script run weeks later."""
import ast
import importlib
from pathlib import Path

RESEARCH = Path(__file__).resolve().parents[1]

TRAINING_API = {
    "training.classifier_engine": {"fit", "predict_logits"},
    "training.crossval": {"VARIANTS", "fold_indices"},
    "training.data": {"DEFAULT_DATA", "KAGGLE_DATA", "SHARED_DATA", "add_data_args", "load_data"},
    "training.detection_metrics": {"class_ap50", "evaluate_detections", "ignored", "iou", "match", "voc_ap"},
    "training.detector_engine": {"DetTrainConfig", "distil_loss", "fit", "load_images"},
    "training.device": {"pick_device"},
    "training.evaluate": {"EVAL_MIN_CONFIDENCE", "batched_detections", "detection_report", "drop_ignored", "load_ignore",
                          "pipeline_predictions", "select_part"},
    "training.faces": {"FaceTable"},
    "training.metrics": {"calibrate", "calibrated_probs", "per_dataset", "SIZE_BINS", "size_bin", "summarize"},
    "training.recipe": {"PRESETS", "TrainConfig", "add_recipe_args", "recipe_from_args"},
    "training.splits": {"FOLDS_FILE", "INCORRECT", "PARTS", "SPLIT_FILES", "load_split", "part_indices", "thin_images"},
    "training.train_classifier": {"part_logits"},
    "training.voc": {"VOCImage", "read_voc", "read_vocs"},
}


def research_imports() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for path in RESEARCH.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("training"):
                used.setdefault(node.module, set()).update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                used.update({alias.name: {"*"} for alias in node.names if alias.name.startswith("training")})
    return used


def test_research_uses_only_the_listed_part_of_training():
    used = research_imports()
    assert used, "no research script imports training: the walk is broken"
    outside = {module: names - TRAINING_API.get(module, set()) for module, names in used.items()}
    assert not {m: n for m, n in outside.items() if n}, outside


def test_every_listed_name_exists():
    missing = [f"{module}.{name}" for module, names in TRAINING_API.items() for name in names
               if not hasattr(importlib.import_module(module), name)]
    assert not missing, missing
