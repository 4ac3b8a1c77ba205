"""The pipeline without torch: the networks as the OpenVINO files `python -m models.export` writes, everything
around them in numpy and OpenCV. What the CPU image (Dockerfile.cpu) runs.

Pre- and post-processing follow torchvision's FCOS step by step (normalise, bilinear resize, pad to a multiple of
32, anchors, top-k per level, box decoding, clipping, suppression, rescaling), so it finds the faces the torch
pipeline finds (tests/test_ir_pipeline.py; every test-part image: research/results/runtimes/).

Why twice: torch's version (models/detector.py) is what training validates with and what CUDA runs, post-processing
whole batches on the GPU; this one is what a CPU runs, without torch installed (the CPU image has none) and on
static input shapes. The agreement test keeps the two equal.

The detector runs static networks, each compiled for one input shape, on the images whose padded size is one of
them: the shapes of the common photo and camera aspects, compiled at start-up. OpenVINO runs a network compiled
for one shape faster than its dynamic-shape network (BENCHMARKS.md, "The CPU pipeline"), with the same outputs to
the bit (research/results/runtimes/README.md, "Static shapes, bf16 and int8"). Other sizes run on the
dynamic-shape network.
"""
import math
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from models.backends import PRECISIONS, BackendError
from models.crops import crop_faces
from models.defaults import DEFAULT_EXPORT, DETECTOR_SCALE, MAX_FACES, MIN_CONFIDENCE, SCORE_FLOOR, long_side, pad32
from models.export_format import read_export
from models.face_pipeline import FacePipeline
from models.face_sizes import MAIN_NETWORK, SIZE_NETWORKS, classifier_name
from models.labels import IMAGENET_MEAN, IMAGENET_STD

# Long over short side of the images the detector has static networks for: the common photo and camera shapes.
STATIC_ASPECTS = (1, 4 / 3, 3 / 2, 16 / 9)


def static_shapes(short: int, long: int) -> list[tuple[int, int]]:
    """The padded input sizes (height, width) of images of `STATIC_ASPECTS`, each way up, read at (`short`, `long`)."""
    shapes = set()
    for aspect in STATIC_ASPECTS:
        sides = pad32(math.floor(min(short, long / aspect))), pad32(math.floor(min(long, short * aspect)))
        shapes |= {sides, sides[::-1]}
    return sorted(shapes, key=lambda shape: (shape[0] * shape[1], shape))


def compile_ir(path: Path, threads: int, precision: str, mean: np.ndarray, std: np.ndarray,
               shape: tuple[int, ...] | None = None, uint8: bool = False):
    """An OpenVINO network from `path` (.xml) compiled for the CPU, taking NHWC RGB pixels (uint8 with `uint8`,
    else float32), normalised inside by (x - `mean`) / `std` per channel, where OpenVINO fuses it into the first
    convolution; static for an NCHW input `shape` when given. A function of arrays returning the outputs."""
    import openvino  # here: the runtime plan has said it is installed, with the message to show when it is not
    from openvino.preprocess import PrePostProcessor

    # Unpinned: pinned, the copies of a network the service runs side by side share their threads' cores and wait
    # on each other (BENCHMARKS.md, "The CPU pipeline"). int8: the layers left unquantised run in fp32.
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
              "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False}
    try:
        core = openvino.Core()
        network = core.read_model(str(path))
        if shape:
            network.reshape(list(shape))
        steps = PrePostProcessor(network)
        steps.input().tensor().set_element_type(openvino.Type.u8 if uint8 else openvino.Type.f32).set_layout(openvino.Layout("NHWC"))
        steps.input().model().set_layout(openvino.Layout("NCHW"))
        steps.input().preprocess().convert_element_type(openvino.Type.f32).mean(list(map(float, mean))).scale(list(map(float, std)))
        request = core.compile_model(steps.build(), "CPU", config).create_infer_request()
    except Exception as err:
        raise BackendError(f"openvino-ir could not load {path}: {type(err).__name__}: {err}") from err
    return lambda x: list(request.infer([np.ascontiguousarray(x)], share_inputs=True).to_tuple())


def network_file(folder: Path, config: dict, name: str, precision: str) -> Path:
    """The .xml of network `name`: at int8 its `training.qat` (or `training.quantize`) file where it has one (fp32
    where int8 did not pay), else the export's."""
    if precision != "int8":
        return folder / f"{name}.xml"
    if not config.get("int8"):
        raise BackendError(f"{folder} holds no int8 networks: run `python -m training.qat --export {folder}` "
                           "(or the quicker, less accurate `python -m training.quantize`)")
    return folder / (f"{name}-int8.xml" if name in config["int8"] else f"{name}.xml")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


class Frame(NamedTuple):
    """Where an image lies in the detector's input: its (height, width), resized, and padded to 32."""
    shape: tuple[int, int]
    resized: tuple[int, int]
    padded: tuple[int, int]


class IRDetector:
    """The exported FCOS: an RGB image in, face boxes in its pixels and their scores out, best first. Read at
    (`min_size`, `max_size`), on the static network of the image's padded size where there is one (`static=False`:
    never); networks are compiled on first use or by `compile_all`."""

    def __init__(self, path: Path, config: dict, threads: int, precision: str, min_size: int, max_size: int,
                 static: bool = True):
        self.path = path
        self.mean = np.float32(config["image_mean"]) * np.float32(255)
        self.std = np.float32(config["image_std"]) * np.float32(255)
        self.compile = lambda shape=None: compile_ir(path, threads, precision, self.mean, self.std,
                                                     shape and (1, 3, *shape))
        self.config = config
        self.min_size, self.max_size = min_size, max_size
        self.static_shapes = static_shapes(min_size, max_size) if static else []
        self.networks = {}  # input (height, width), None for the dynamic shape -> its network
        self.score_floor = SCORE_FLOOR

    def compile_all(self) -> None:
        for shape in [*self.static_shapes, None]:
            self.network(shape)

    def network(self, shape: tuple[int, int] | None):
        """The network compiled for input `shape`, or the dynamic-shape one when it has none."""
        shape = shape if shape in self.static_shapes else None
        if shape not in self.networks:
            self.networks[shape] = self.compile(shape)
        return self.networks[shape]

    def pad(self, rgb: np.ndarray, size: tuple[int, int], padded: tuple[int, int]) -> np.ndarray:
        """Resized to `size` (height, width) as torchvision's transform resizes (bilinear, no antialiasing), in
        the top left corner of `padded` pixels of the mean colour (zero once normalised, as torchvision pads)."""
        x = np.empty((1, *padded, 3), np.float32)
        x[0, size[0]:], x[0, :size[0], size[1]:] = self.mean, self.mean
        cv2.resize(rgb.astype(np.float32), size[::-1], dst=x[0, :size[0], :size[1]], interpolation=cv2.INTER_LINEAR)
        return x

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, frame = self.prepare(rgb)
        return self.decode(self.network(frame.padded)(x), frame)

    def prepare(self, rgb: np.ndarray) -> tuple[np.ndarray, Frame]:
        """The network's input for `rgb` (NHWC pixels) and where the image lies in it."""
        resized = self.resized_size(rgb.shape[:2])
        padded = pad32(resized[0]), pad32(resized[1])
        return self.pad(rgb, resized, padded), Frame(rgb.shape[:2], resized, padded)

    def decode(self, outputs: list[np.ndarray], frame: Frame) -> tuple[np.ndarray, np.ndarray]:
        """The network's outputs for one image -> boxes in the image's pixels and their scores, best first."""
        logits, regression, ctrness = (a[0] for a in outputs)
        padded, resized = frame.padded, frame.resized
        candidates, start = [], 0
        for stride in self.config["strides"]:
            rows, cols = -(-padded[0] // stride), -(-padded[1] // stride)
            level = [a[start:start + rows * cols] for a in (logits, regression, ctrness)]
            start += rows * cols
            candidates.append(self.level_candidates(*level, cols, (padded[0] // rows, padded[1] // cols), stride))
        boxes, scores = (np.concatenate(parts) for parts in zip(*candidates))
        boxes = np.minimum(np.maximum(boxes, 0), np.float32([resized[1], resized[0]] * 2))
        keep = cv2.dnn.NMSBoxes(np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).astype(np.float64),
                                scores, self.score_floor, self.config["nms_thresh"])
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)[:self.config["detections_per_img"]]
        ratio = np.float32(frame.shape[1] / resized[1]), np.float32(frame.shape[0] / resized[0])
        return boxes[keep] * np.float32([ratio[0], ratio[1], ratio[0], ratio[1]]), scores[keep]

    def resized_size(self, shape: tuple[int, int]) -> tuple[int, int]:
        """(height, width) an image of `shape` is resized to: torchvision's scale, its output size rounded down."""
        height, width = shape
        scale = min(self.min_size / min(height, width), self.max_size / max(height, width))
        return int(np.floor(height * scale)), int(np.floor(width * scale))

    def level_candidates(self, logits: np.ndarray, regression: np.ndarray, ctrness: np.ndarray, cols: int,
                         step: tuple[int, int], stride: int) -> tuple[np.ndarray, np.ndarray]:
        """One level's best `topk_candidates` locations over the score floor (row-major, `cols` per row, anchors
        `step` (y, x) pixels apart as torchvision's AnchorGenerator spaces them): boxes decoded from their anchors
        (BoxLinearCoder, sizes normalised by the anchor's), and scores sqrt(class probability x centredness)."""
        scores = np.sqrt(sigmoid(logits).max(1) * sigmoid(ctrness[:, 0]))
        idx = np.flatnonzero(scores > self.score_floor)  # as torchvision: the floor first, then the top k
        idx = idx[np.argsort(-scores[idx], kind="stable")[:self.config["topk_candidates"]]]
        ys, xs = np.divmod(idx, cols)
        size = 2 * np.float32(np.round(stride / 2))  # the anchor generator's base anchor, rounded
        centre_x, centre_y = xs.astype(np.float32) * step[1], ys.astype(np.float32) * step[0]
        codes = regression[idx] * size
        boxes = np.stack([centre_x - codes[:, 0], centre_y - codes[:, 1], centre_x + codes[:, 2], centre_y + codes[:, 3]], 1)
        return boxes, scores[idx]


class IRClassifier:
    """The exported classifier: `crops` and `predict` as `models.mask_classifier.MaskClassifier` has them."""

    def __init__(self, path: Path, config: dict, threads: int, precision: str):
        self.path = path
        self.network = compile_ir(path, threads, precision, np.float32(IMAGENET_MEAN) * 255,
                                  np.float32(IMAGENET_STD) * 255, uint8=True)
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
        if self.config["flip_tta"]:
            logits = self.network(np.concatenate([crops, crops[:, :, ::-1]]))[0].reshape(2, len(crops), -1).mean(0)
        else:
            logits = self.network(crops)[0]
        z = logits / np.float32(self.config["temperature"]) + np.float32(self.config["logit_bias"])
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)


class IRPipeline(FacePipeline):
    """Detector + classifier from an exported folder, on the CPU with OpenVINO; no torch. Same arguments and faces
    as `models.pipeline.MaskPipeline` with backend openvino (`precision` fp32 or bf16; int8 runs the networks
    `training.qat` or `training.quantize` wrote; what the service runs is `models.plan.resolve_plan`'s choice). Each image of a batch is detected alone, as torch detects a batch of one (a padded
    batch moves border detections slightly)."""

    def __init__(self, folder: str | Path = DEFAULT_EXPORT, min_confidence: float = MIN_CONFIDENCE, max_faces: int = MAX_FACES,
                 precision: str = "fp32", scale: int = DETECTOR_SCALE, score_floor: float = SCORE_FLOOR, threads: int = 1,
                 static_shapes: bool = True):
        if precision not in PRECISIONS["openvino-ir"]:
            raise BackendError(f"precision {precision} is not one backend openvino-ir runs: choose one of {', '.join(PRECISIONS['openvino-ir'])}")
        folder = Path(folder)
        config = read_export(folder)
        self.precision, self.backend = precision, "openvino-ir"
        read_size = (scale, long_side(scale)) if scale else (config["detector"]["min_size"], config["detector"]["max_size"])
        self.detector = IRDetector(network_file(folder, config, "detector", self.precision), config["detector"], threads,
                                   self.precision, *read_size, static_shapes)
        self.classifiers = {name: IRClassifier(network_file(folder, config, name, self.precision), config[name], threads, self.precision)
                            for name in (MAIN_NETWORK, *SIZE_NETWORKS) if name in config}
        self.classifier = self.classifiers[MAIN_NETWORK]
        self.classes = self.classifier.classes
        self.min_confidence, self.max_faces = min_confidence, max_faces
        self.detector.score_floor = score_floor

    @property
    def read_size(self) -> tuple[int, int]:
        return self.detector.min_size, self.detector.max_size

    @property
    def info(self) -> dict[str, str]:
        return {"detector": self.detector.config["name"], "classifier": classifier_name(self.classifiers), "device": "cpu",
                "backend": self.backend, "precision": self.precision}

    def warm_up(self, max_batch: int = 1) -> None:
        """Compile every detector network, so that no request waits for one."""
        self.detector.compile_all()
        self.detect(np.zeros((300, 400, 3), np.uint8))
        for classifier in self.classifiers.values():
            size = classifier.config["input_size"]
            classifier.predict(np.zeros((1, size, size, 3), np.uint8))

    def detect_smalls(self, smalls: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        return [self.detector(small) for small in smalls]
