"""Off-the-shelf face detectors for comparison only (not runtime dependencies of MaskWatch).

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
