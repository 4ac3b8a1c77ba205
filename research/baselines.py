"""Off-the-shelf face detectors for comparison only (not runtime dependencies of MaskWatch).

- YuNet-n (WIDER FACE, Apache-2.0): ONNX weights from ../shared/pretrained, run by OpenCV's FaceDetectorYN.
- RetinaFace-MobileNet0.25 (WIDER FACE, MIT): state dict from ../shared/pretrained, network in research/retinaface.py.
- RFB SSD (WIDER FACE + MAFA masked faces, MIT): state dict from ../shared/pretrained, network in research/rfb.py.
- Haar cascade: OpenCV 4.x (5.x dropped CascadeClassifier), installed apart from the project's OpenCV:
      pip install --target .cache/opencv4 --no-deps "opencv-python-headless<5"
- MTCNN: its weights ship inside the facenet-pytorch wheel:
      pip install --no-deps facenet-pytorch requests urllib3 idna charset-normalizer certifi tqdm
Each returns a function rgb -> (boxes (N, 4), scores (N,)) like `MaskPipeline.detect`.
"""
import importlib
import sys
from pathlib import Path
from typing import Callable

import numpy as np

OPENCV4_DIR = Path(__file__).resolve().parent.parent / ".cache" / "opencv4"
PRETRAINED_DIR = Path(__file__).resolve().parents[2] / "shared" / "pretrained"
DetectFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def haar_detector() -> DetectFn:
    """OpenCV's frontal-face Haar cascade; score = the cascade's level weight, squashed to (0, 1)."""
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "cv2" or k.startswith("cv2.")}
    sys.path.insert(0, str(OPENCV4_DIR))
    try:
        cv4 = importlib.import_module("cv2")
    finally:
        sys.path.remove(str(OPENCV4_DIR))
        for k in [k for k in sys.modules if k == "cv2" or k.startswith("cv2.")]:
            del sys.modules[k]
        sys.modules.update(saved)
    if not hasattr(cv4, "CascadeClassifier"):
        raise RuntimeError(f"no OpenCV 4.x with CascadeClassifier in {OPENCV4_DIR}; see this module's docstring")
    cascade = cv4.CascadeClassifier(str(Path(cv4.data.haarcascades) / "haarcascade_frontalface_default.xml"))

    def run(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gray = cv4.cvtColor(rgb, cv4.COLOR_RGB2GRAY)
        rects, _, weights = cascade.detectMultiScale3(gray, scaleFactor=1.05, minNeighbors=3, minSize=(8, 8), outputRejectLevels=True)
        if len(rects) == 0:
            return np.zeros((0, 4)), np.zeros(0)
        rects = np.asarray(rects, dtype=np.float64)
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        return boxes, 1 / (1 + np.exp(-np.asarray(weights, dtype=np.float64).ravel()))
    return run


def mtcnn_detector(device: str = "cpu") -> DetectFn:
    """facenet-pytorch's MTCNN with its shipped weights, all faces, min face 8 px."""
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, min_face_size=8, device=device)

    def run(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, probs = mtcnn.detect(rgb)
        if boxes is None:
            return np.zeros((0, 4)), np.zeros(0)
        return np.asarray(boxes, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    return run


def yunet_detector(upscale: float = 1.0, path: Path = PRETRAINED_DIR / "yunet_n_640_640.onnx") -> DetectFn:
    """YuNet-n at the image's own size times `upscale` (small faces need 2x); every face scored >= 0.05."""
    import cv2

    net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold=0.05, nms_threshold=0.3, top_k=5000)

    def run(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if upscale != 1:
            bgr = cv2.resize(bgr, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
        net.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = net.detect(bgr)
        if faces is None:
            return np.zeros((0, 4)), np.zeros(0)
        faces = np.asarray(faces, dtype=np.float64)
        boxes = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1) / upscale
        order = np.argsort(-faces[:, -1])
        return boxes[order], faces[order, -1]
    return run


def upscaled(detect_faces: Callable, model, upscale: float) -> DetectFn:
    """`detect_faces(model, rgb)` on the image resized by `upscale`, boxes back in the image's own pixels."""
    import cv2

    def run(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if upscale != 1:
            rgb = cv2.resize(rgb, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
        boxes, scores = detect_faces(model, rgb)
        return boxes / upscale, scores
    return run


def retinaface_detector(upscale: float = 1.0, path: Path = PRETRAINED_DIR / "retinaface_mobilenet0.25_widerface.pth") -> DetectFn:
    """RetinaFace-MobileNet0.25 at the image's own size times `upscale`; every face scored >= 0.05, NMS 0.4."""
    from research.retinaface import detect_faces, load_retinaface

    return upscaled(detect_faces, load_retinaface(str(path)), upscale)


def rfb_detector(upscale: float = 1.0, path: Path = PRETRAINED_DIR / "rfb640_masked_face_v2.pth") -> DetectFn:
    """The RFB SSD (faces and masked faces) at the image's own size times `upscale`; every face scored >= 0.05, NMS 0.3."""
    from research.rfb import detect_faces, load_rfb

    return upscaled(detect_faces, load_rfb(str(path)), upscale)
