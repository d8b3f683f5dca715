"""Reading images from files and uploads with one bound: no image of more than MAX_IMAGE_PIXELS is decoded."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edgedigits import MAX_IMAGE_PIXELS, EdgeDigitsError

TOO_LARGE = f"over the {MAX_IMAGE_PIXELS // 1_000_000}-megapixel limit"


def _decoded(decode: Callable[[], np.ndarray | None], name: str) -> np.ndarray:
    """What `decode` returns, or a one-line error (prefixed by `name`) saying why there is no image."""
    try:
        image = decode()
    except cv2.error as exc:  # OpenCV refuses an oversized header by raising
        raise EdgeDigitsError(f"{name}{TOO_LARGE if 'MAX_IMAGE' in str(exc) else 'not a readable image'}") from None
    if image is None:
        raise EdgeDigitsError(f"{name}not a readable image")
    return image


def decode_image(data: bytes, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An encoded image (PNG, JPEG, ...) decoded, or a one-line error saying why not."""
    return _decoded(lambda: cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None, "")


def read_image(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An image file decoded, or a one-line error naming it."""
    return _decoded(lambda: cv2.imread(str(path), flags), f"{path}: ")
