"""The pipeline without torch: the networks as the OpenVINO files `python -m models.export` writes, everything
around them in numpy and OpenCV. What the CPU image (Dockerfile.cpu) runs.

Pre- and post-processing follow torchvision's FCOS step by step (normalise, bilinear resize, pad to a multiple of
32, anchors, top-k per level, box decoding, clipping, suppression, rescaling), so it finds the faces the torch
pipeline finds (tests/test_ir_pipeline.py; every test-part image: research/results/runtimes/).
"""
import json
from pathlib import Path

import cv2
import numpy as np

from models.backends import BackendError, resolve_backend
from models.crops import crop_faces, normalise
from models.face_pipeline import DEFAULT_EXPORT, DETECTOR_SCALE, MAX_FACES, MIN_CONFIDENCE, SCORE_FLOOR, FacePipeline, long_side, sha256_of

FORMAT = "maskwatch-openvino/1"


def compile_ir(path: Path, threads: int, precision: str):
    """An OpenVINO network from `path` (.xml) compiled for the CPU: a function of float32 arrays returning its outputs."""
    import openvino  # here: resolve_backend has said it is installed, with the message to show when it is not

    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
              "PERFORMANCE_HINT": "LATENCY"}
    try:
        request = openvino.Core().compile_model(str(path), "CPU", config).create_infer_request()
    except Exception as err:
        raise BackendError(f"openvino-ir could not load {path}: {type(err).__name__}: {err}") from err
    return lambda x: list(request.infer([np.ascontiguousarray(x, dtype=np.float32)]).to_tuple())


def read_export(folder: Path) -> dict:
    """export.json of an exported folder, checked against the .pt files beside it (when there are any)."""
    path = folder / "export.json"
    if not path.is_file():
        raise BackendError(f"{folder} holds no exported networks: run `python -m models.export --out {folder}` where torch is installed")
    config = json.loads(path.read_text())
    if config.get("format") != FORMAT or not {"detector", "classifier"} <= config.keys():
        raise BackendError(f"{path} is not a whole MaskWatch export of format {FORMAT}: run `python -m models.export --out {folder}`")
    for name in ("detector", "classifier"):
        weights = folder.parent / f"{name}.pt"
        if weights.is_file() and sha256_of(weights) != config[name]["sha256"]:
            raise BackendError(f"{folder} was exported from another {name} than {weights}: run `python -m models.export --out {folder}`")
    return config


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


class IRDetector:
    """The exported FCOS: an RGB image in, face boxes in its pixels and their scores out, best first."""

    def __init__(self, folder: Path, config: dict, threads: int, precision: str):
        self.network = compile_ir(folder / "detector.xml", threads, precision)
        self.config = config
        self.min_size, self.max_size = config["min_size"], config["max_size"]
        self.mean = np.float32(config["image_mean"]) * np.float32(255)
        self.std = np.float32(config["image_std"]) * np.float32(255)
        self.score_floor = SCORE_FLOOR

    def resize(self, rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Normalised, resized to `size` (width, height) as torchvision's transform resizes (bilinear, no
        antialiasing), padded to 32."""
        image = cv2.resize((rgb.astype(np.float32) - self.mean) / self.std, size, interpolation=cv2.INTER_LINEAR)
        padded = np.zeros((1, 3, -(-size[1] // 32) * 32, -(-size[0] // 32) * 32), np.float32)
        padded[0, :, :size[1], :size[0]] = image.transpose(2, 0, 1)
        return padded

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        resized = self.resized_size(rgb.shape[:2])
        x = self.resize(rgb, resized[::-1])
        height, width = x.shape[2:]
        logits, regression, ctrness = (a[0] for a in self.network(x))
        candidates, start = [], 0
        for stride in self.config["strides"]:
            rows, cols = -(-height // stride), -(-width // stride)
            level = slice(start, start + rows * cols)
            start += rows * cols
            candidates.append(self.level_candidates(logits[level], regression[level], ctrness[level], cols,
                                                    (height // rows, width // cols), stride))
        boxes, scores = (np.concatenate(parts) for parts in zip(*candidates))
        boxes = np.minimum(np.maximum(boxes, 0), np.float32([resized[1], resized[0]] * 2))
        keep = cv2.dnn.NMSBoxes(np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).astype(np.float64),
                                scores, self.score_floor, self.config["nms_thresh"])
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)[:self.config["detections_per_img"]]
        ratio = np.float32(rgb.shape[1] / resized[1]), np.float32(rgb.shape[0] / resized[0])
        return boxes[keep] * np.float32([ratio[0], ratio[1], ratio[0], ratio[1]]), scores[keep]

    def resized_size(self, shape: tuple[int, int]) -> tuple[int, int]:
        """(height, width) an image of `shape` is resized to: torchvision's scale, its output size rounded down."""
        height, width = shape
        scale = min(self.min_size / min(height, width), self.max_size / max(height, width))
        return int(np.floor(height * scale)), int(np.floor(width * scale))

    def level_candidates(self, logits: np.ndarray, regression: np.ndarray, ctrness: np.ndarray, cols: int,
                         step: tuple[int, int], stride: int) -> tuple[np.ndarray, np.ndarray]:
        """One level's best `topk_candidates` locations (row-major, `cols` per row, anchors `step` (y, x) pixels
        apart as torchvision's AnchorGenerator spaces them): boxes decoded from their anchors (BoxLinearCoder,
        sizes normalised by the anchor's), and scores sqrt(class probability x centredness)."""
        scores = np.sqrt(sigmoid(logits).max(1) * sigmoid(ctrness[:, 0]))
        top = min(len(scores), self.config["topk_candidates"])
        idx = np.argsort(-scores, kind="stable")[:top]
        ys, xs = np.divmod(idx, cols)
        size = 2 * np.float32(np.round(stride / 2))  # the anchor generator's base anchor, rounded
        centre_x, centre_y = xs.astype(np.float32) * step[1], ys.astype(np.float32) * step[0]
        codes = regression[idx] * size
        boxes = np.stack([centre_x - codes[:, 0], centre_y - codes[:, 1], centre_x + codes[:, 2], centre_y + codes[:, 3]], 1)
        return boxes, scores[idx]


class IRClassifier:
    """The exported classifier: `crops` and `predict` as `models.mask_classifier.MaskClassifier` has them."""

    def __init__(self, folder: Path, config: dict, threads: int, precision: str):
        self.network = compile_ir(folder / "classifier.xml", threads, precision)
        self.config = config
        self.name = config["name"]
        self.classes = tuple(config["classes"])

    def crops(self, image_rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return crop_faces(image_rgb, boxes, self.config["input_size"], self.config["margin"])

    def predict_boxes(self, image_rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return self.predict(self.crops(image_rgb, boxes))

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """uint8 RGB crops (N, S, S, 3) -> probabilities softmax(logits / temperature + logit_bias), (N, 3)."""
        if len(crops) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        x = normalise(crops)
        if self.config["flip_tta"]:
            logits = self.network(np.concatenate([x, x[..., ::-1]]))[0].reshape(2, len(x), -1).mean(0)
        else:
            logits = self.network(x)[0]
        z = logits / np.float32(self.config["temperature"]) + np.float32(self.config["logit_bias"])
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)


class IRPipeline(FacePipeline):
    """Detector + classifier from an exported folder, on the CPU with OpenVINO; no torch. Same arguments and faces
    as `models.pipeline.MaskPipeline` with backend openvino (`precision` fp32 or bf16). Each image of a batch is
    detected alone, as torch detects a batch of one (a padded batch moves border detections slightly)."""

    def __init__(self, folder: str | Path = DEFAULT_EXPORT, min_confidence: float = MIN_CONFIDENCE, max_faces: int = MAX_FACES,
                 precision: str = "fp32", scale: int = DETECTOR_SCALE, score_floor: float = SCORE_FLOOR, threads: int = 1):
        folder = Path(folder)
        self.precision = "fp32" if precision == "fp16" else precision
        self.backend = resolve_backend("openvino-ir", "cpu", self.precision)
        config = read_export(folder)
        self.detector = IRDetector(folder, config["detector"], threads, self.precision)
        self.classifier = IRClassifier(folder, config["classifier"], threads, self.precision)
        self.classes = self.classifier.classes
        self.min_confidence, self.max_faces = min_confidence, max_faces
        if scale:
            self.detector.min_size, self.detector.max_size = scale, long_side(scale)
        self.detector.score_floor = score_floor

    @property
    def read_size(self) -> tuple[int, int]:
        return self.detector.min_size, self.detector.max_size

    @property
    def info(self) -> dict[str, str]:
        return {"detector": self.detector.config["name"], "classifier": self.classifier.name, "device": "cpu",
                "backend": self.backend, "precision": self.precision}

    def warm_up(self, max_batch: int = 1) -> None:
        self.detect(np.zeros((300, 400, 3), np.uint8))
        size = self.classifier.config["input_size"]
        self.classifier.predict(np.zeros((1, size, size, 3), np.uint8))

    def detect_smalls(self, smalls: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        return [self.detector(small) for small in smalls]
