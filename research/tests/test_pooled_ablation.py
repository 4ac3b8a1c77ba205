"""The paired bootstrap of research.pooled_ablation: a copy of the reference moves by nothing, a better arm moves
up with an interval above zero, groups split faces by dataset and size, and a routed arm reads each face from the
run its size sends it to, or from the mean of an ensemble's runs."""
import numpy as np
import pytest

from research.pooled_ablation import arm_correct, bootstrap, groups, run_variant, scores
from training.splits import INCORRECT


def test_scores_weigh_each_face_by_how_often_a_draw_took_it():
    y = np.array([0, 1, 2, 2])
    correct = np.array([True, True, True, False])
    assert scores(y, correct, np.ones(4)) == (np.mean([1, 1, 0.5]), 0.5)
    assert scores(y, correct, np.array([1, 1, 3, 1]))[1] == 0.75  # the right rare face drawn three times


def test_a_copy_moves_by_nothing_and_a_better_arm_moves_up():
    rng = np.random.default_rng(0)
    y = np.tile([0, 1, 2, 2], 50)
    images = np.repeat(np.arange(100), 2)
    base = rng.random(len(y)) < 0.7
    better = base | (y == INCORRECT)  # every rare face right
    members = groups(np.array(["a"] * len(y)), np.array(["under 24 px"] * len(y)))
    report = bootstrap(y, {"base": base, "copy": base.copy(), "better": better}, images, members, 100, rng)
    assert report["both"]["copy"]["move"]["aca"] == [0.0, 0.0, 0.0]
    move, low, _ = report["both"]["better"]["move"]["incorrect"]
    assert move > 0 and low > 0 and report["both"]["better"]["incorrect"] == 1.0
    assert report["a, under 24 px"]["faces"] == len(y) and report["over 48 px"]["faces"] == 0


def test_a_routed_arm_reads_each_size_bin_from_its_run():
    idx, y = np.arange(3), np.zeros(3, int)
    right, wrong = np.log([[0.9, 0.05, 0.05]] * 3), np.log([[0.1, 0.8, 0.1]] * 3)
    read = {"small": (idx, right), "other": (idx, wrong)}
    sizes = np.array(["under 24 px", "24-48 px", "over 48 px"])
    assert arm_correct("small,other", read, sizes, y).tolist() == [True, False, False]
    assert arm_correct("other", read, sizes, y).tolist() == [False, False, False]
    assert arm_correct("other,small,other", read, sizes, y).tolist() == [False, True, False]


def test_an_ensemble_reads_the_mean_of_its_runs_log_probabilities():
    idx, y, sizes = np.arange(1), np.zeros(1, int), np.array(["over 48 px"])
    read = {"sure": (idx, np.log([[0.7, 0.3, 1e-9]])), "doubtful": (idx, np.log([[0.3, 0.5, 0.2]])),
            "sure_wrong": (idx, np.log([[0.01, 0.98, 0.01]]))}
    assert arm_correct("sure+doubtful", read, sizes, y).tolist() == [True]  # 0.7 * 0.3 > 0.3 * 0.5
    assert arm_correct("sure+sure_wrong", read, sizes, y).tolist() == [False]
    assert arm_correct("small,sure_wrong,sure+doubtful", read | {"small": read["sure"]}, sizes, y).tolist() == [True]


def test_a_run_is_read_at_its_last_epoch_with_or_without_flip_tta():
    assert run_variant("runs/a") == ("runs/a", "last")
    assert run_variant("runs/a:last_tta") == ("runs/a", "last_tta")
    with pytest.raises(ValueError, match="runs/a:best"):
        run_variant("runs/a:best")
