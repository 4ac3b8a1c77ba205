import json
import subprocess
import sys

import numpy as np

from tests.conftest import VOC_DIR
from training.experiments.paper_table import aggregate


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)


def test_evaluate_prints_per_class_accuracy_aca_and_confusion_json():
    result = run("training.evaluate", "--data", str(VOC_DIR))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 23 and np.sum(report["confusion_matrix"]) == 23
    assert report["aca"] == np.mean([report["acc_with_mask"], report["acc_without_mask"], report["acc_mask_worn_incorrectly"]])
    assert report["aca"] >= 0.7


def test_evaluate_rejects_a_folder_without_annotations(tmp_path):
    result = run("training.evaluate", "--data", str(tmp_path))
    assert result.returncode == 2 and "no annotations" in result.stderr


def test_crossval_rejects_a_rare_fraction_outside_zero_to_one():
    result = run("training.crossval", "--data", str(VOC_DIR), "--rare-fraction", "0")
    assert result.returncode == 2 and "--rare-fraction must be in (0, 1]" in result.stderr


def test_evaluate_pipeline_on_fixtures_and_detector_labels_need_a_three_class_detector(tmp_path):
    result = run("training.evaluate", "--data", str(VOC_DIR), "--pipeline", "--out", str(tmp_path), "--examples", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["labels"] == "classifier" and report["face_ap50"] > 0.8 and (tmp_path / "pr_curve.png").exists()
    result = run("training.evaluate", "--data", str(VOC_DIR), "--pipeline", "--labels", "detector", "--out", str(tmp_path))
    assert result.returncode == 2 and "--three-class" in result.stderr


def test_classify_cli_prints_one_json_line_per_given_box(tmp_path):
    image = VOC_DIR / "images" / "maksssksksss1.png"
    result = run("models.classify", str(image), "--boxes", "[[10, 10, 50, 60], [100, 20, 140, 70]]", "--annotate", str(tmp_path / "a.png"))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [f["box"] for f in lines] == [[10, 10, 50, 60], [100, 20, 140, 70]]
    assert (tmp_path / "a.png").stat().st_size > 1000
    bad = run("models.classify", str(tmp_path / "missing.png"))
    assert bad.returncode == 2 and "cannot read" in bad.stderr


def test_paper_table_aggregates_mean_and_std_over_seeds():
    runs = [{"split": "face", "arch": "custom_relu_bn", "seed": s, "pretrained": False, "seconds": 2.0,
             "device": "cpu", "acc_with_mask": a, "acc_without_mask": 1.0, "acc_mask_worn_incorrectly": 0.5, "aca": a} for s, a in enumerate([0.8, 0.9])]
    (row,) = aggregate(runs)
    assert row["seeds"] == 2 and row["init"] == "scratch" and row["devices"] == "cpu x2"
    assert row["aca"] == "85.00 ± 7.07"
    assert row["paper"].endswith("85.29")
