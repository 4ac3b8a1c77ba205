import json

import numpy as np
import pytest

from research.detector_learning_curve import ILC, KAGGLE, plot, read_point, summary, table


def fake_report(path, images: int) -> None:
    """Scores that gain 0.02 (Kaggle) and 0.04 (ILC) per doubling, reaching 0.90 / 0.80 at 1,024 images."""
    gain = np.log2(images / 1024)
    kaggle = {"face_ap50": 0.90 + 0.02 * gain, "map50": 0.84 + 0.02 * gain}
    ilc = {"face_ap50": 0.80 + 0.04 * gain, "map50": 0.77 + 0.04 * gain}
    path.write_text(json.dumps({"face_ap50": 0.85 + 0.03 * gain, "map50": 0.8 + 0.03 * gain,
                                "per_dataset": {KAGGLE: kaggle, ILC: ilc}}))


def test_the_last_doubling_says_how_much_data_each_target_would_take(tmp_path):
    points = []
    for images in (256, 512, 1024):
        fake_report(tmp_path / f"{images}.json", images)
        points.append(read_point(tmp_path / f"{images}.json", images))
    rows = {(r["dataset"], r["metric"]): r for r in summary(points)}
    kaggle_ap = rows[(KAGGLE, "face_ap50")]
    assert kaggle_ap["per_doubling"] == pytest.approx(0.02) and kaggle_ap["score"] == pytest.approx(0.90)
    assert kaggle_ap["times_this_data"] == pytest.approx(2 ** 2.5)  # (0.95 - 0.90) / 0.02 doublings
    assert rows[(ILC, "map50")]["images_at_target"] == pytest.approx(1024 * 2 ** 2)  # (0.85 - 0.77) / 0.04
    text = table(points, summary(points))
    assert "| 256 | 0.790 / 0.740 | 0.860 / 0.800 | 0.720 / 0.690 |" in text
    plot(points, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 10_000


def test_a_curve_that_stopped_rising_never_reaches_its_target(tmp_path):
    points = []
    for name, images, kaggle in (("a", 256, 0.80), ("b", 512, 0.90), ("c", 1024, 0.892), ("d", 1024, 0.91)):
        fake_report(tmp_path / f"{name}.json", images)
        report = json.loads((tmp_path / f"{name}.json").read_text())
        report["per_dataset"][KAGGLE]["face_ap50"] = kaggle
        (tmp_path / f"{name}.json").write_text(json.dumps(report))
        points.append(read_point(tmp_path / f"{name}.json", images))
    kaggle_ap = next(r for r in summary(points) if r["dataset"] == KAGGLE and r["metric"] == "face_ap50")
    assert kaggle_ap["score"] == pytest.approx(0.901) and kaggle_ap["per_doubling"] == pytest.approx(0.001)
    assert kaggle_ap["times_this_data"] == float("inf")  # a fit through all three sizes would say about 3x
    assert "| face-mask-detection | face AP@0.5 | 0.901 | +0.0010 | 0.95 | never: under 0.005 a doubling | |" in table(points, summary(points))
