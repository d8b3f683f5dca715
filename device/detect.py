"""Find handwritten digits in a camera frame and cut them out as MNIST-style crops."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgedigits.device.normalize import normalize_crop


@dataclass(frozen=True)
class DetectOptions:
    min_height: int = 15  # px; smaller blobs are specks, not digits
    max_height_ratio: float = 0.8  # of the frame height; larger blobs are page edges or shadows
    max_aspect: float = 2.0  # width / height; wider blobs are ruled lines or strokes of a frame
    min_ink: float = 0.06  # share of the box covered by ink
    background_kernel: int = 41  # px; must exceed a stroke's width


@dataclass(frozen=True)
class Candidate:
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    crop: np.ndarray  # 28x28 uint8, white digit on black


def ink_map(frame: np.ndarray, kernel: int) -> np.ndarray:
    """Ink strength 0..255 per pixel, independent of uneven lighting and of ink polarity."""
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if np.median(gray) < 110:  # a dark page: light ink, so flip it to dark-on-light
        gray = 255 - gray
    structure = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    # Black-hat = closing - image: the paper's own brightness (with its shading) minus the ink.
    return cv2.morphologyEx(cv2.GaussianBlur(gray, (3, 3), 0), cv2.MORPH_BLACKHAT, structure)


def find_digits(frame: np.ndarray, options: DetectOptions = DetectOptions()) -> list[Candidate]:
    """Digit candidates of a frame, left to right, top to bottom."""
    ink = ink_map(frame, options.background_kernel)
    threshold, _ = cv2.threshold(ink, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    threshold = max(threshold, 20.0)  # Otsu on a blank page splits sensor noise
    mask = (ink > threshold).astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    frame_height = frame.shape[0]
    found = []
    for label in range(1, count):
        x, y, w, h, area = stats[label]
        if not (options.min_height <= h <= options.max_height_ratio * frame_height):
            continue
        if w / h > options.max_aspect or area / (w * h) < options.min_ink:
            continue
        component = labels[y:y + h, x:x + w] == label
        crop = np.where(component, ink[y:y + h, x:x + w], 0)
        found.append(Candidate((int(x), int(y), int(w), int(h)), normalize_crop(crop)))
    return sorted(found, key=lambda c: (c.box[1] // max(1, c.box[3]), c.box[0]))
