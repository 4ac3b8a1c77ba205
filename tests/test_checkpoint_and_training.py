import numpy as np
import pytest
import torch

from models.architectures import ARCHITECTURES, build_classifier
from models.checkpoint import ClassifierSpec, load_checkpoint, read_weights, save_checkpoint, write_weights
from models.mask_classifier import DEFAULT_WEIGHTS, MaskClassifier
from training.classifier_engine import (
    TrainConfig,
    augment_batch,
    batch_loss,
    class_weights,
    epoch_order,
    fit,
    param_groups,
)
from training.faces import FaceTable


def test_checkpoint_round_trip_keeps_outputs_and_spec(tmp_path):
    torch.manual_seed(0)
    model = build_classifier("custom_relu_bn").eval()
    spec = ClassifierSpec("custom_relu_bn", input_size=35, margin=0.1, temperature=1.7, flip_tta=True, meta={"k": 1})
    save_checkpoint(tmp_path / "c.pt", model, spec)
    loaded, spec2 = load_checkpoint(tmp_path / "c.pt")
    assert spec2 == spec
    x = torch.randn(4, 3, 35, 35)
    torch.testing.assert_close(loaded(x), model(x), atol=2e-2, rtol=2e-2)
    assert not (tmp_path / "c.pt.tmp").exists()


def test_weights_are_fp16_unless_a_value_is_past_its_range(tmp_path):
    net = torch.nn.BatchNorm2d(2)
    net.running_var.copy_(torch.tensor([89549.0, 2.0]))  # as in RetinaFace's first layer
    write_weights(tmp_path / "w.pt", "test/1", {}, net)
    stored = torch.load(tmp_path / "w.pt", weights_only=True)["state_dict"]
    assert stored["running_var"].dtype == torch.float32 and stored["weight"].dtype == torch.float16
    assert torch.equal(read_weights(tmp_path / "w.pt", "test/1")[1]["running_var"], net.running_var)


def test_loading_something_else_fails_clearly(tmp_path):
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a MaskWatch checkpoint"):
        load_checkpoint(tmp_path / "x.pt")


@pytest.mark.parametrize("arch", ["custom_relu", "custom_tanh_bn", "resnet18_2fc", "mobilenet_v2"])
def test_architectures_give_three_logits_at_35px(arch):
    assert build_classifier(arch)(torch.randn(2, 3, 35, 35)).shape == (2, 3)


def test_every_paper_architecture_is_registered():
    for arch in ("custom_relu", "custom_relu_bn", "custom_tanh", "custom_tanh_bn", "resnet18", "resnet18_2fc", "resnet34",
                 "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "densenet121", "densenet161", "densenet201", "mobilenet_v2"):
        assert arch in ARCHITECTURES
    with pytest.raises(ValueError, match="unknown architecture"):
        build_classifier("alexnet")


def test_one_epoch_smoke_training_on_fixtures(voc_images, tmp_path):
    table = FaceTable.from_voc(voc_images)
    idx = np.arange(len(table.labels))
    cfg = TrainConfig(arch="custom_relu_bn", epochs=1, lr=1e-3, batch_size=8, augment=True)
    result = fit(table, idx, idx, cfg, torch.device("cpu"), progress=False)
    assert len(result.history) == 1 and np.isfinite(result.history[0]["val_loss"])
    save_checkpoint(tmp_path / "c.pt", result.model, ClassifierSpec(cfg.arch, cfg.input_size, cfg.margin))
    probs = MaskClassifier(tmp_path / "c.pt").predict_boxes(table.images[0], table.boxes[table.image_index == 0])
    assert probs.shape == ((table.image_index == 0).sum(), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_exported_crops_equal_the_crops_from_images(voc_images, tmp_path):
    table = FaceTable.from_voc(voc_images)
    table.export_crops(tmp_path / "c.npz", 35, 0.0)
    compact = FaceTable.from_crops(tmp_path / "c.npz")
    idx = compact.select_images([voc_images[1].stem])
    np.testing.assert_array_equal(compact.crops(idx, 35, 0.0), table.crops(table.select_images([voc_images[1].stem]), 35, 0.0))
    with pytest.raises(ValueError, match="only crops"):
        compact.crops(idx, 56, 0.15)


def test_served_classifier_folds_batchnorm_without_changing_outputs():
    classifier = MaskClassifier()
    trained, spec = load_checkpoint(DEFAULT_WEIGHTS)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in trained.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in classifier.model.modules())
    x = torch.randn(5, 3, spec.input_size, spec.input_size)
    with torch.no_grad():
        torch.testing.assert_close(classifier.model(x), trained(x), atol=1e-4, rtol=1e-4)


def test_fit_keeps_the_best_or_the_last_epoch(voc_images):
    table = FaceTable.from_voc(voc_images)
    idx = np.arange(len(table.labels))
    cfg = TrainConfig(arch="custom_relu_bn", epochs=3, lr=1e-2, batch_size=8, keep="last")
    result = fit(table, idx, idx, cfg, torch.device("cpu"), progress=False)
    assert set(result.states) == {"best", "last"}
    for name, tensor in result.model.state_dict().items():
        torch.testing.assert_close(tensor, result.states["last"][name])
    losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == 1 + int(np.argmin(losses))
    with pytest.raises(ValueError, match="unknown keep"):
        fit(table, idx, idx, TrainConfig(arch="custom_relu_bn", epochs=1, keep="median"), torch.device("cpu"), progress=False)


def test_ema_keeps_an_average_of_the_trained_weights(voc_images):
    table = FaceTable.from_voc(voc_images)
    idx = np.arange(len(table.labels))
    runs = {ema: fit(table, idx, idx, TrainConfig(arch="custom_relu_bn", epochs=2, lr=1e-2, batch_size=8, keep="last", ema=ema),
                     torch.device("cpu"), progress=False).states["last"] for ema in (0.0, 1e-9, 0.9)}
    for name, tensor in runs[0.0].items():
        if tensor.is_floating_point():  # decay ~0: the average is the last step's weights
            torch.testing.assert_close(runs[1e-9][name], tensor)
    assert any(not torch.allclose(runs[0.9][n], t) for n, t in runs[0.0].items() if t.is_floating_point())


def test_class_sampler_draws_rare_classes_by_their_weight():
    labels = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    weights = class_weights(labels.numpy(), "inverse")
    gen = torch.Generator().manual_seed(0)
    assert sorted(epoch_order(labels, weights, "shuffle", gen).tolist()) == list(range(1000))
    counts = torch.bincount(labels[epoch_order(labels, weights, "class", gen)], minlength=3)
    assert counts.sum() == 1000 and all(abs(c - 333) < 60 for c in counts.tolist())  # inverse weights: balanced draws


def test_backbone_learns_at_a_fraction_of_the_heads_rate():
    model = build_classifier("mobilenet_v2", pretrained=False)
    body, head = param_groups(model, TrainConfig(lr=1e-3, backbone_lr=0.1))
    assert {id(p) for p in head["params"]} == {id(p) for p in model.classifier.parameters()}
    assert len(body["params"]) + len(head["params"]) == len(list(model.parameters()))
    assert body["lr"] == pytest.approx(1e-4) and head["lr"] == 1e-3


def test_mixup_loss_blends_the_two_labels():
    model = torch.nn.Identity()  # logits = inputs: the blended loss is checkable by hand
    x, y = torch.eye(3) * 5, torch.tensor([0, 1, 2])
    loss_fn = torch.nn.CrossEntropyLoss()
    plain = batch_loss(model, loss_fn, x, y, 0.0, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert plain == pytest.approx(loss_fn(x, y).item())
    rng, gen = np.random.default_rng(1), torch.Generator().manual_seed(1)
    lam, perm = float(np.random.default_rng(1).beta(0.4, 0.4)), torch.randperm(3, generator=torch.Generator().manual_seed(1))
    mixed_x = lam * x + (1 - lam) * x[perm]
    expected = lam * loss_fn(mixed_x, y) + (1 - lam) * loss_fn(mixed_x, y[perm])
    assert batch_loss(model, loss_fn, x, y, 0.4, rng, gen).item() == pytest.approx(expected.item())
    assert not torch.equal(perm, torch.arange(3))


def test_augmentation_rotates_and_lowers_resolution_reproducibly():
    x = torch.randn(6, 3, 32, 32)
    plain = augment_batch(x.clone(), torch.Generator().manual_seed(0))
    strong = augment_batch(x.clone(), torch.Generator().manual_seed(0), rotate=20, lowres=1.0)
    again = augment_batch(x.clone(), torch.Generator().manual_seed(0), rotate=20, lowres=1.0)
    assert strong.shape == x.shape
    torch.testing.assert_close(strong, again)
    assert not torch.allclose(strong, plain)
    # a low-resolution view has lost high frequencies: neighbouring pixels differ less than in noise
    assert (strong[..., 1:] - strong[..., :-1]).abs().mean() < 0.5 * (plain[..., 1:] - plain[..., :-1]).abs().mean()


def test_recipe_flags_come_from_the_config_and_override_only_what_is_given():
    import argparse

    from training.recipe import PRESETS, add_recipe_args, recipe_from_args

    parser = argparse.ArgumentParser()
    add_recipe_args(parser, preset="maskwatch")
    cfg = recipe_from_args(parser.parse_args(["--epochs", "30", "--flip-tta", "--keep", "last", "--mixup", "0.2"]))
    assert (cfg.epochs, cfg.flip_tta, cfg.keep, cfg.mixup) == (30, True, "last", 0.2)
    assert cfg.input_size == PRESETS["maskwatch"]["input_size"] and cfg.lr == PRESETS["maskwatch"]["lr"]
    assert recipe_from_args(parser.parse_args(["--preset", "paper"])) == TrainConfig()
    assert not recipe_from_args(parser.parse_args(["--no-pretrained"])).pretrained


def test_top_cut_drops_up_to_that_share_of_the_top_of_half_the_boxes():
    rows = np.repeat(np.arange(100, dtype=np.uint8)[:, None], 100, axis=1)  # each pixel is its row number
    image = np.stack([rows] * 3, axis=2)
    n = 400
    table = FaceTable([image], np.zeros(n, np.int64), np.tile(np.array([[0, 0, 100, 100]], np.float32), (n, 1)),
                      np.zeros(n, np.int64), [f"f#{i}" for i in range(n)], ["f"])
    tops = table.crops(np.arange(n), 10, 0.0, rng=np.random.default_rng(0), top_cut=1 / 3)[:, 0, 0, 0].astype(int)
    # a crop's first pixel averages its first tenth of rows: 4 or 5 for a box from the top
    assert 0.4 < (tops > 5).mean() < 0.6  # half the boxes start lower
    assert tops.max() <= 33 + 5  # by at most a third of their height
    assert (table.crops(np.arange(n), 10, 0.0)[:, 0, 0, 0] <= 5).all()  # without it, every box starts at the top
