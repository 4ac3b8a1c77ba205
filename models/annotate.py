"""Draw faces on an image: green with mask, red without, orange worn incorrectly."""
import cv2
import numpy as np

from models.labels import COLORS_BGR


def pixel_box(face) -> tuple[int, int, int, int]:
    """The face's box in whole pixels, as it is drawn and blurred."""
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    return x1, y1, x2, y2


def blur_faces(canvas: np.ndarray, faces: list) -> None:
    """Blur each face's box in place, strongly enough that the face cannot be recognised (sigma a quarter of its
    larger side); nothing outside the boxes changes."""
    for face in faces:
        x1, y1, x2, y2 = pixel_box(face)
        region = canvas[y1:y2, x1:x2]
        if region.size:
            region[:] = cv2.GaussianBlur(region, (0, 0), max(2.0, max(region.shape[:2]) / 4))


def annotate(rgb: np.ndarray, faces: list, blur: bool = False) -> np.ndarray:
    """A BGR copy of `rgb` with each face's box and label drawn (ready for cv2.imencode); with `blur`, every
    face blurred first (for operators who keep annotated frames)."""
    canvas = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if blur:
        blur_faces(canvas, faces)
    thickness = max(1, round(max(canvas.shape[:2]) / 400))
    for face in faces:
        x1, y1, x2, y2 = pixel_box(face)
        color = COLORS_BGR[face.label]
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        text = f"{face.label} {face.confidence:.2f}"
        scale = 0.35 * thickness
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y1 - th - 4)
        cv2.rectangle(canvas, (x1, top), (x1 + tw + 2, top + th + 4), color, -1)
        cv2.putText(canvas, text, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
