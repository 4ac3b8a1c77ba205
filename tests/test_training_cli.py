"""The two training CLIs end to end on the fixtures, one tiny epoch each (no ImageNet weights needed)."""
import json
import subprocess
import sys
import time

import torch

from models.checkpoint import load_checkpoint, read_weights
from models.detector import FORMAT as DETECTOR_FORMAT
from models.detector import load_detector
from tests.conftest import ROOT, VOC_DIR, run_module
from training.detector_engine import add_faces
from training.splits import save_split

run = run_module  # each command as `python -m` runs it, in this process


def test_train_classifier_writes_a_checkpoint_and_per_dataset_metrics(tmp_path):
    result = run("training.train_classifier", "--data", str(VOC_DIR), "--split", "face", "--epochs", "1",
                 "--batch-size", "8", "--calibrate", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["n"] == 3 and metrics["test_per_dataset"]["voc"]["n"] == 3
    _, spec = load_checkpoint(tmp_path / "classifier.pt")
    assert spec.arch == "custom_relu_bn" and spec.meta["data"] == ["voc"]
    assert (tmp_path / "loss_curves.png").exists()


def test_train_classifier_rejects_a_split_with_nothing_of_the_data(tmp_path):
    save_split({"train": ["a"], "val": ["b"], "test": ["c"]}, tmp_path / "split.json")
    result = run("training.train_classifier", "--data", str(VOC_DIR), "--split-file", str(tmp_path / "split.json"))
    assert result.returncode == 2 and "no face in some part" in result.stderr


def test_train_detector_resumes_after_an_interruption(tmp_path):
    save_split({"train": ["maksssksksss1", "maksssksksss44", "maksssksksss145"], "val": ["maksssksksss760"], "test": []},
               tmp_path / "split.json")
    out = tmp_path / "run"
    args = [sys.executable, "-m", "training.train_detector", "--data", str(VOC_DIR), "--split-file", str(tmp_path / "split.json"),
            "--init", str(ROOT / "models/weights/detector.pt"), "--scales", "160", "--min-size", "160", "--max-size", "213",
            "--batch-size", "2", "--epochs", "2", "--out", str(out)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / "last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()  # interrupted during epoch 2
    proc.wait()
    assert torch.load(out / "last.pt", weights_only=False)["epoch"] == 1
    assert not (out / "detector.pt").exists()
    resumed = subprocess.run([*args, "--resume", str(out / "last.pt")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == [1, 2]
    assert (out / "detector.pt").exists()  # the last epoch is always evaluated and the best kept


def test_extra_faces_join_the_training_images_as_faces(voc_images):
    stem = voc_images[0].stem
    out = add_faces(voc_images, {stem: [[1, 2, 30, 40]]})
    assert len(out[0].boxes) == len(voc_images[0].boxes) + 1 and out[0].labels[-1] == 0
    assert out[0].boxes[-1].tolist() == [1, 2, 30, 40]
    assert all(len(a.boxes) == len(b.boxes) for a, b in zip(out[1:], voc_images[1:]))


def test_extra_faces_need_a_one_class_detector(tmp_path):
    (tmp_path / "extra.json").write_text("{}")
    result = run("training.train_detector", "--data", str(VOC_DIR), "--three-class", "--extra-faces", str(tmp_path / "extra.json"))
    assert result.returncode == 2 and "one-class detector" in result.stderr


def test_train_detector_starts_from_a_face_detectors_body(tmp_path):
    from tests.test_detector_body import retinaface_state_dict

    state = retinaface_state_dict()
    torch.save(state, tmp_path / "retinaface.pth")
    save_split({"train": ["maksssksksss1", "maksssksksss44"], "val": ["maksssksksss760"], "test": []}, tmp_path / "split.json")
    common = ["training.train_detector", "--data", str(VOC_DIR), "--split-file", str(tmp_path / "split.json"), "--body", "retinaface",
              "--scales", "160", "--min-size", "160", "--max-size", "213", "--batch-size", "2", "--epochs", "1"]
    result = run(*common, "--face-weights", str(tmp_path / "retinaface.pth"), "--lr", "0", "--keep-every", "1",
                 "--head-convs", "3", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    spec, weights = read_weights(tmp_path / "run" / "detector.pt", DETECTOR_FORMAT)
    assert spec["body"] == "retinaface" and spec["head_convs"] == 3
    assert read_weights(tmp_path / "run" / "detector_epoch1.pt", DETECTOR_FORMAT)[0]["meta"] == {"epoch": 1}
    for key in ("body.stage1.0.0.weight", "fpn.merge1.0.weight", "ssh1.conv7x7_3.0.weight"):  # untouched at lr 0
        ours = weights["backbone." + key.replace("ssh1.", "ssh.0.")]
        torch.testing.assert_close(ours, state[key].half().to(ours.dtype))  # saved in fp16
    missing = run(*common, "--face-weights", str(tmp_path / "nothing.pth"), "--out", str(tmp_path / "run2"))
    assert missing.returncode == 2 and "nothing.pth: no such file" in missing.stderr
    other = run("training.train_detector", "--data", str(VOC_DIR), "--body", "mobilenet_v2", "--init", str(tmp_path / "run" / "detector.pt"))
    assert other.returncode == 2 and "is a retinaface detector" in other.stderr
    again = run(*common, "--init", str(tmp_path / "run" / "detector.pt"), "--out", str(tmp_path / "run3"))
    assert again.returncode == 0, again.stderr
    assert read_weights(tmp_path / "run3" / "detector.pt", DETECTOR_FORMAT)[0]["head_convs"] == 3  # the --init file's
    lighter = run(*common, "--init", str(tmp_path / "run" / "detector.pt"), "--head-convs", "1", "--out", str(tmp_path / "run4"))
    assert lighter.returncode == 0, lighter.stderr  # the head's first conv comes from the file, the two after it are dropped
    assert read_weights(tmp_path / "run4" / "detector.pt", DETECTOR_FORMAT)[0]["head_convs"] == 1
    separable = run(*common, "--init", str(tmp_path / "run" / "detector.pt"), "--separable-head", "--out", str(tmp_path / "run7"))
    assert separable.returncode == 0, separable.stderr  # new depthwise and pointwise convolutions, the rest from the file
    model, spec, _ = load_detector(tmp_path / "run7" / "detector.pt")
    depthwise = model.head.classification_head.conv[0][0]
    assert spec.head_separable and depthwise.groups == depthwise.in_channels > 1
    taught = run(*common, "--init", str(tmp_path / "run" / "detector.pt"), "--head-convs", "1", "--freeze-body",
                 "--distil-from", str(tmp_path / "run" / "detector.pt"), "--lr", "1e-2", "--out", str(tmp_path / "run5"))
    assert taught.returncode == 0, taught.stderr
    student = read_weights(tmp_path / "run5" / "detector.pt", DETECTOR_FORMAT)[1]
    # the body and pyramid as initialised; the head's one convolution trained
    assert all(torch.equal(v, weights[k]) for k, v in student.items() if k.startswith("backbone."))
    assert not torch.equal(student["head.classification_head.conv.0.weight"], weights["head.classification_head.conv.0.weight"])
    no_teacher = run(*common, "--init", str(tmp_path / "run" / "detector.pt"), "--distil-from", str(tmp_path / "nothing.pt"),
                     "--out", str(tmp_path / "run6"))
    assert no_teacher.returncode == 2 and "--distil-from" in no_teacher.stderr
    no_head = run("training.train_detector", "--data", str(VOC_DIR), "--head-convs", "0")
    assert no_head.returncode == 2 and "--head-convs 0: at least 1" in no_head.stderr
    no_share = run("training.train_detector", "--data", str(VOC_DIR), "--train-fraction", "1.5")
    assert no_share.returncode == 2 and "--train-fraction 1.5: must be in (0, 1]" in no_share.stderr
