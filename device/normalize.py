"""MNIST-style crop normalization, shared by the live pipeline and calibration."""
from __future__ import annotations

import cv2
import numpy as np

MNIST_SIZE = 28
MNIST_BOX = 20  # NIST digits were fit into 20x20, then centred by mass in 28x28
MNIST_CENTRE = 14.0  # mean centre of mass of the MNIST train images, in pixel indices


def normalize_crop(ink: np.ndarray) -> np.ndarray:
    """A white-on-black ink image of any size as a 28x28 MNIST digit: aspect-preserving fit into
    20x20, anti-aliased, centred by its centre of mass, full contrast."""
    ink = np.asarray(ink, np.float32)
    x, y, width, height = cv2.boundingRect((ink > 0).astype(np.uint8))
    if width == 0:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)
    ink = ink[y:y + height, x:x + width]
    scale = MNIST_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # INTER_AREA averages when shrinking (anti-aliasing); it degrades to bilinear-like when growing.
    digit = cv2.resize(ink, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    moments = cv2.moments(digit)
    if moments["m00"] <= 0:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)
    # Whole-pixel shifts, as MNIST was made: a sub-pixel shift would blur the strokes.
    dx = round(MNIST_CENTRE - moments["m10"] / moments["m00"])
    dy = round(MNIST_CENTRE - moments["m01"] / moments["m00"])
    placed = cv2.warpAffine(digit, np.float32([[1, 0, dx], [0, 1, dy]]), (MNIST_SIZE, MNIST_SIZE),
                            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    peak = placed.max()
    return np.zeros_like(placed, np.uint8) if peak <= 0 else np.clip(placed * (255.0 / peak), 0, 255).astype(np.uint8)
