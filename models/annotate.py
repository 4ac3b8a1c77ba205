"""Draw faces on an image: green with mask, red without, orange worn incorrectly."""
import cv2
import numpy as np

from models.labels import COLORS_BGR


def annotate(rgb: np.ndarray, faces: list) -> np.ndarray:
    """A BGR copy of `rgb` with each face's box and label drawn (ready for cv2.imencode)."""
    canvas = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    thickness = max(1, round(max(canvas.shape[:2]) / 400))
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        color = COLORS_BGR[face.label]
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        text = f"{face.label} {face.confidence:.2f}"
        scale = 0.35 * thickness
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y1 - th - 4)
        cv2.rectangle(canvas, (x1, top), (x1 + tw + 2, top + th + 4), color, -1)
        cv2.putText(canvas, text, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
