"""What is written on the page: handwritten MNIST test digits, printed digits (OpenCV's stroke fonts and real
TrueType fonts), letters, words and scribbles."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from edgedigits.data import Split

HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)
LETTERS = "ACEFHKMNRTUVWXYaehkmnrwx"  # no O/I/l/S/Z/B/G/q/b: those are written like digits


@dataclass
class Glyph:
    alpha: np.ndarray  # ink coverage 0..1, tight around the ink
    label: str  # "" for a distractor: drawn, but not a digit
    x: int = 0
    y: int = 0


@functools.lru_cache(maxsize=1)
def truetype_fonts() -> tuple:
    """Every font with digits (training and held-out families alike: footage is never trained on)."""
    from edgedigits.fonts import digit_fonts
    return tuple(digit_fonts())


def handwritten(test: Split, rng: np.random.Generator, height: int) -> Glyph:
    index = int(rng.integers(len(test)))
    alpha = test.images[index].astype(np.float32) / 255
    rows, cols = np.nonzero(alpha > 0.1)
    alpha = alpha[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = height / alpha.shape[0]
    size = (max(1, round(alpha.shape[1] * scale)), height)
    return Glyph(cv2.resize(alpha, size, interpolation=cv2.INTER_CUBIC).clip(0, 1), str(test.labels[index]))


def tight(canvas: np.ndarray, height: int, label: str) -> Glyph:
    rows, cols = np.nonzero(canvas > 25)
    alpha = canvas[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.float32) / 255
    size = (max(1, round(alpha.shape[1] * height / alpha.shape[0])), height)
    return Glyph(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA).clip(0, 1), label)


def printed(rng: np.random.Generator, height: int, text: str | None = None) -> Glyph:
    """A digit (or, given `text`, a distractor) in one of OpenCV's stroke fonts."""
    label = str(int(rng.integers(10))) if text is None else text
    font = (*HERSHEY, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)[int(rng.integers(len(HERSHEY) + (text is not None)))]
    canvas = np.zeros((200, 220), np.uint8)
    cv2.putText(canvas, label, (20, 160), font, 4.0, 255, int(rng.integers(6, 12)), cv2.LINE_AA)
    return tight(canvas, height, "" if text is not None else label)


def typeset(rng: np.random.Generator, height: int, text: str | None = None) -> Glyph:
    """A digit (or, given `text`, a distractor word) in a TrueType font; OpenCV's fonts where none is found."""
    fonts = truetype_fonts()
    if not fonts:
        return printed(rng, height, text)
    label = str(int(rng.integers(10))) if text is None else text
    ink = fonts[int(rng.integers(len(fonts)))].ink(label)
    return tight(ink, height, "" if text is not None else label)


def distractor(rng: np.random.Generator, height: int) -> Glyph:
    """A letter, or a scribble: a smooth random stroke like a crossed-out word or a doodle."""
    if rng.random() < 0.6:
        return printed(rng, height, LETTERS[int(rng.integers(len(LETTERS)))])
    canvas = np.zeros((200, 200), np.uint8)
    points = np.cumsum(rng.normal(0, 30, (int(rng.integers(4, 9)), 2)), axis=0)
    points = (points - points.min(axis=0)) / max(1.0, np.ptp(points)) * 150 + 25
    curve = cv2.resize(points.astype(np.float32)[None], (60, 1), interpolation=cv2.INTER_LINEAR)[0]
    cv2.polylines(canvas, [curve.astype(np.int32)], False, 255, int(rng.integers(8, 14)), cv2.LINE_AA)
    return tight(canvas, height, "")


def word(rng: np.random.Generator, height: int) -> Glyph:
    """A printed word of letters (none shaped like a digit), for text around the digits."""
    return typeset(rng, height, "".join(rng.choice(list(LETTERS), int(rng.integers(3, 9)))))


def digit(test: Split, rng: np.random.Generator, height: int, share_printed: float, truetype: bool) -> Glyph:
    """A handwritten digit, or a printed one with probability `share_printed`."""
    if rng.random() >= share_printed:
        return handwritten(test, rng, height)
    return typeset(rng, height) if truetype else printed(rng, height)
