"""MNIST-style crop normalization, shared by the live pipeline and calibration."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

MNIST_SIZE = 28
MNIST_BOX = 20  # NIST digits were fit into 20x20, then centred by mass in 28x28
MNIST_CENTRE = 14.0  # mean centre of mass of the MNIST train images, in pixel indices


def normalize_crops(inks: Sequence[np.ndarray]) -> np.ndarray:
    """White-on-black uint8 ink images of any size as (N, 28, 28) uint8 MNIST digits: each fit into 20x20
    keeping its aspect, anti-aliased, centred by its centre of mass, full contrast."""
    digits = np.zeros((len(inks), MNIST_SIZE, MNIST_SIZE), np.float32)
    for digit, ink in zip(digits, inks):
        x, y, width, height = cv2.boundingRect(ink)  # of the nonzero pixels
        if width == 0:
            continue
        scale = MNIST_BOX / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # INTER_AREA averages when shrinking (anti-aliasing); it degrades to bilinear-like when growing.
        fitted = cv2.resize(ink[y:y + height, x:x + width].astype(np.float32), size,
                            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        centre = _centre_of_mass(fitted)
        if centre is not None:
            # Whole-pixel shifts, as MNIST was made: a sub-pixel shift would blur the strokes.
            _paste(digit, fitted, round(MNIST_CENTRE - centre[0]), round(MNIST_CENTRE - centre[1]))
    # Interpolation of non-negative ink stays non-negative, so the brightest pixel bounds the range; a blank
    # digit stays blank whatever its gain.
    gain = np.float32(255.0) / np.maximum(digits.max(axis=(1, 2), initial=0.0), np.float32(1e-6))
    return (digits * gain[:, None, None]).astype(np.uint8)


def normalize_crop(ink: np.ndarray) -> np.ndarray:
    """One white-on-black uint8 ink image as a 28x28 MNIST digit (see normalize_crops)."""
    return normalize_crops([ink])[0]


def _centre_of_mass(image: np.ndarray) -> tuple[float, float] | None:
    """The (x, y) centre of an image's ink, or None if it has none."""
    # cv2.moments takes a float image 2 px wide for a list of points (a thin 1 came out blank): a blank column on
    # its right moves no centre.
    moments = cv2.moments(np.pad(image, ((0, 0), (0, 1))) if image.shape[1] == 2 else image)
    if moments["m00"] <= 0:
        return None
    return moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]


def _paste(canvas: np.ndarray, image: np.ndarray, left: int, top: int) -> None:
    """Copy image into canvas with its top-left corner at (left, top); what falls outside is cut off."""
    height, width = image.shape
    if left >= 0 and top >= 0 and left + width <= canvas.shape[1] and top + height <= canvas.shape[0]:
        canvas[top:top + height, left:left + width] = image  # nearly always: a 20 px digit fits in 28 px
        return
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + width, canvas.shape[1]), min(top + height, canvas.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = image[y0 - top:y1 - top, x0 - left:x1 - left]
