"""Reading images from files and uploads with one bound: no image of more than MAX_IMAGE_PIXELS is decoded; and
altering them as other cameras would have taken them (the photo benchmark's and the tests' alterations)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edgedigits import MAX_IMAGE_PIXELS, EdgeDigitsError

TOO_LARGE = f"over the {MAX_IMAGE_PIXELS // 1_000_000}-megapixel limit"
# OpenCV's photographed newspaper puzzle (Debian's opencv-doc) and its cells, 0 where empty: the photo benchmark's
# and the tests' truth for it.
SUDOKU_PNG = Path("/usr/share/doc/opencv-doc/examples/data/sudoku.png")
SUDOKU_PNG_GRID = [[0, 0, 0, 6, 0, 4, 7, 0, 0], [7, 0, 6, 0, 0, 0, 0, 0, 9], [0, 0, 0, 0, 0, 5, 0, 8, 0],
                   [0, 7, 0, 0, 2, 0, 0, 9, 3], [8, 0, 0, 0, 0, 0, 0, 0, 5], [4, 3, 0, 0, 1, 0, 0, 7, 0],
                   [0, 5, 0, 2, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0, 2, 0, 8], [0, 0, 2, 3, 0, 1, 0, 0, 0]]


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


def shake_kernel(length: int, angle: float) -> np.ndarray:
    """A camera's shake as a filter: a line `length` px long at `angle` degrees (counter-clockwise), summing to 1."""
    line = np.zeros((length, length), np.float32)
    line[length // 2] = 1
    centre = (length - 1) / 2
    line = cv2.warpAffine(line, cv2.getRotationMatrix2D((centre, centre), angle, 1.0), (length, length))
    return line / line.sum()


@dataclass(frozen=True)
class Alteration:
    """A photo as others might have taken it: larger or smaller, askew (degrees, counter-clockwise), under- or
    overexposed (a gain), out of focus (a Gaussian's sigma, px), through a webcam's lens (corners darkened by),
    bent by a lens (the k1 its picture is remapped by: > 0 a wide lens' barrel, < 0 a pincushion), of a curled page
    (its lines bowed, their middles lower than their ends by this share of its height), from below the page (its
    top edge this much narrower), under warm lamplight (blue this much weaker, green half that), with
    sensor noise (a sigma, grey levels) and saved as a JPEG of this quality (0: not)."""
    enlarge: float = 1.0
    turn: float = 0.0
    exposure: float = 1.0
    blur: float = 0.0
    vignette: float = 0.0
    bend: float = 0.0
    curl: float = 0.0
    tilt: float = 0.0
    warmth: float = 0.0
    noise: float = 0.0
    jpeg: int = 0


def curl_drop(x: np.ndarray, width: int, depth: float) -> np.ndarray:
    """How much lower (px) a curled page's point at column `x` lies: `depth` at its middle, nothing at its sides."""
    return depth * (1 - ((x - width / 2) / (width / 2)) ** 2)


def curled(image: np.ndarray, depth: float) -> np.ndarray:
    """An image of a page curled: its lines bowed, their middles `depth` px lower than their ends (< 0: higher)."""
    height, width = image.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(image, x, (y - curl_drop(x, width, depth)).astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def altered(image: np.ndarray, change: Alteration) -> np.ndarray:
    """A photo changed as `change` says, its sides filled from its edge where it is turned."""
    if change.enlarge != 1:
        image = cv2.resize(image, None, fx=change.enlarge, fy=change.enlarge,
                           interpolation=cv2.INTER_CUBIC if change.enlarge > 1 else cv2.INTER_AREA)
    height, width = image.shape[:2]
    if change.turn:
        image = cv2.warpAffine(image, cv2.getRotationMatrix2D((width / 2, height / 2), change.turn, 1.0),
                               (width, height), borderMode=cv2.BORDER_REPLICATE)
    if change.bend:
        camera = np.float64([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]])
        x, y = cv2.initUndistortRectifyMap(camera, np.float64([change.bend, 0, 0, 0]), None, camera, (width, height),
                                           cv2.CV_32FC1)
        image = cv2.remap(image, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if change.curl:
        image = curled(image, change.curl * height)
    if change.tilt:
        corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        seen = corners + np.float32([[1, 0], [-1, 0], [0, 0], [0, 0]]) * width * change.tilt / 2
        image = cv2.warpPerspective(image, cv2.getPerspectiveTransform(corners, seen), (width, height),
                                    borderMode=cv2.BORDER_REPLICATE)
    if change.blur:
        image = cv2.GaussianBlur(image, (0, 0), change.blur)
    gain = np.float32(change.exposure)
    if change.warmth:  # (per channel: only then must the image be a colour one)
        gain = gain * np.float32([1 - change.warmth, 1 - change.warmth / 2, 1])
    if change.vignette:
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        gain = gain * (1 - change.vignette * (((x - width / 2) / (width / 2)) ** 2
                                              + ((y - height / 2) / (height / 2)) ** 2) / 2)[..., None]
    if np.any(gain != 1) or change.noise:
        noise = np.random.default_rng(0).normal(0, change.noise, image.shape) if change.noise else 0
        image = np.clip(image * gain + noise, 0, 255).astype(np.uint8)
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, change.jpeg])[1], cv2.IMREAD_COLOR
                        ) if change.jpeg else image
