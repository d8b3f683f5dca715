"""Reading images from files and uploads with one bound: no image of more than MAX_IMAGE_PIXELS is decoded."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgedigits import MAX_IMAGE_PIXELS, EdgeDigitsError

TOO_LARGE = f"over the {MAX_IMAGE_PIXELS // 1_000_000}-megapixel limit"


def decode_image(data: bytes, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An encoded image (PNG, JPEG, ...) decoded, or a one-line error saying why not."""
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None
    except cv2.error as exc:  # OpenCV refuses an oversized header by raising
        raise EdgeDigitsError(TOO_LARGE if "MAX_IMAGE" in str(exc) else "not a readable image") from None
    if image is None:
        raise EdgeDigitsError("not a readable image")
    return image


def read_image(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An image file decoded, or a one-line error naming it."""
    try:
        image = cv2.imread(str(path), flags)
    except cv2.error as exc:
        raise EdgeDigitsError(f"{path}: {TOO_LARGE if 'MAX_IMAGE' in str(exc) else 'not a readable image'}") from None
    if image is None:
        raise EdgeDigitsError(f"{path}: not a readable image")
    return image
