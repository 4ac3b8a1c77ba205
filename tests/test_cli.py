import json

import numpy as np

from tests.conftest import VOC_DIR, run_module

run = run_module  # each command as `python -m` runs it, in this process


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


def test_evaluate_pipeline_on_fixtures_reports_each_dataset(tmp_path):
    result = run("training.evaluate", "--data", str(VOC_DIR), "--pipeline", "--out", str(tmp_path), "--examples", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["face_ap50"] > 0.8 and (tmp_path / "pr_curve.png").exists()
    assert report["per_dataset"]["voc"]["face_ap50"] == report["face_ap50"]


def test_classify_cli_prints_one_json_line_per_given_box(tmp_path):
    image = VOC_DIR / "images" / "maksssksksss1.png"
    result = run("models.classify", str(image), "--boxes", "[[10, 10, 50, 60], [100, 20, 140, 70]]", "--annotate", str(tmp_path / "a.png"))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [f["box"] for f in lines] == [[10, 10, 50, 60], [100, 20, 140, 70]]
    assert (tmp_path / "a.png").stat().st_size > 1000
    bad = run("models.classify", str(tmp_path / "missing.png"))
    assert bad.returncode == 2 and "cannot read" in bad.stderr
