"""The world data set: MNIST's handwriting, digits printed in real TrueType fonts, and an 11th class "N" (not a
digit) of what a camera's digit finder also cuts out — grid and table lines, their crossings, page edges,
letters and words, scribbles, halves of digits and two digits run together.

Every image is made as the device makes its crops: white ink on black, through `normalize_crop`. Fonts are
split by family into training and held-out ones (the test split is printed in fonts never trained on).
"""
from __future__ import annotations

import sys
from typing import Callable

import cv2
import numpy as np

from edgedigits import EdgeDigitsError
from edgedigits.data import CLASSES, NOT_A_DIGIT, Dataset, Split
from edgedigits.device.normalize import normalize_crop
from edgedigits.fonts import Renderer, digit_fonts, family, split_fonts
from edgedigits.images import shake_kernel

WORLD_CLASSES = (*CLASSES, NOT_A_DIGIT)
NOT_A_DIGIT_LABEL = len(CLASSES)
# Letters not written like any digit (no O, I, l, S, Z, B, G, q, g, b, D, s, z, o, i, j, J, T, Y, y, t).
LETTERS = "ACEFHKMNPRUVWXacefhkmnpruvwx"
MIN_NEGATIVE_ASPECT = 0.5  # width / height below which a crop could be a 1


def _pad(ink: np.ndarray, rng: np.random.Generator, most: int = 12) -> np.ndarray:
    return cv2.copyMakeBorder(ink, *rng.integers(2, most, 4).tolist(), cv2.BORDER_CONSTANT, value=0)


def _camera(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a camera and the digit finder do to ink: a little rotation, shear and scale, stroke weight, blur."""
    ink = _pad(ink, rng, 16)
    h, w = ink.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-15, 15), 1.0)
    matrix[0, 1] += rng.uniform(-0.2, 0.2)
    matrix[0] *= rng.uniform(0.8, 1.15)  # narrower or wider type
    ink = cv2.warpAffine(ink, matrix, (w, h), flags=cv2.INTER_LINEAR)
    weight = int(rng.integers(-1, 3))  # px added to (or, at -1, taken from) the strokes
    if weight > 0:
        ink = cv2.dilate(ink, np.ones((weight + 1,) * 2, np.uint8))
    elif weight < 0:
        thinner = cv2.erode(ink, np.ones((2, 2), np.uint8))
        ink = thinner if thinner.max() else ink
    if rng.random() < 0.5:
        ink = cv2.GaussianBlur(ink, (3, 3), rng.uniform(0.3, 1.2))
    return ink


def _blurred(ink: np.ndarray, rng: np.random.Generator, out_of_focus: float = 0.25, shaken: float = 0.15
             ) -> np.ndarray:
    """Ink sometimes out of focus (blurred by up to a tenth of its height), sometimes shaken (smeared along a line up
    to 0.4 of it), as cameras take it; its faint rim cut off where the finder's threshold cuts it."""
    draw = rng.random()
    if draw >= out_of_focus + shaken:
        return ink
    height = max(cv2.boundingRect(ink)[3], 1)
    if draw < out_of_focus:
        sigma = rng.uniform(0.03, 0.1) * height
        border, line = int(3 * sigma) + 1, None
    else:
        border = max(2, int(rng.uniform(0.1, 0.4) * height))
        line = shake_kernel(border, rng.uniform(0, 180))
    bordered = cv2.copyMakeBorder(ink, *(border,) * 4, cv2.BORDER_CONSTANT, value=0)
    blurred = cv2.GaussianBlur(bordered, (0, 0), sigma) if line is None else cv2.filter2D(bordered, -1, line)
    return np.where(blurred >= rng.uniform(0.1, 0.4) * blurred.max(), blurred, 0).astype(np.uint8)


def _touching_line(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cell's border left beside the digit (the finder removes most of it, not always all)."""
    ink = _pad(ink, rng, 6).copy()
    h, w = ink.shape
    thickness = int(rng.integers(1, 3))
    if rng.random() < 0.5:
        x = int(rng.choice([rng.integers(0, 3), w - 1 - rng.integers(0, 3)]))
        cv2.line(ink, (x, 0), (x, int(h * rng.uniform(0.3, 1))), 255, thickness)
    else:
        y = int(rng.choice([rng.integers(0, 3), h - 1 - rng.integers(0, 3)]))
        cv2.line(ink, (0, y), (int(w * rng.uniform(0.3, 1)), y), 255, thickness)
    return ink


def turned_digits(mnist: Split, count: int, rng: np.random.Generator, degrees: float = 25) -> Split:
    """Handwritten digits on a page turned on the desk: MNIST digits turned by up to `degrees` either way."""
    chosen = rng.integers(0, len(mnist), count)
    images = []
    for index in chosen:
        digit = cv2.copyMakeBorder(mnist.images[index], 8, 8, 8, 8, cv2.BORDER_CONSTANT, value=0)
        turn = cv2.getRotationMatrix2D((22, 22), rng.uniform(-degrees, degrees), 1.0)
        images.append(normalize_crop(_blurred(cv2.warpAffine(digit, turn, (44, 44), flags=cv2.INTER_LINEAR), rng)))
    return Split(np.stack(images), mnist.labels[chosen])


def printed_digits(fonts: list[Renderer], count: int, rng: np.random.Generator) -> Split:
    images, labels = [], []
    for _ in range(count):
        label = int(rng.integers(0, 10))
        ink = _camera(fonts[rng.integers(len(fonts))].ink(CLASSES[label], int(rng.integers(0, 2))), rng)
        if rng.random() < 0.1:
            ink = _touching_line(ink, rng)
        images.append(normalize_crop(_blurred(ink, rng)))
        labels.append(label)
    return Split(np.stack(images), np.array(labels, np.uint8))


def _lines(rng: np.random.Generator) -> np.ndarray:
    """Line pieces: a stretch of ruled line, a grid crossing, a corner or a T, thin or thick, a little tilted."""
    size = int(rng.integers(24, 64))
    ink = np.zeros((size, size), np.uint8)
    centre = rng.integers(size // 4, 3 * size // 4, 2)
    tilt = rng.uniform(-0.15, 0.15)
    arms = [(1, tilt), (-1, -tilt), (tilt, 1), (-tilt, -1)]
    kept = [arm for arm, keep in zip(arms, rng.random(4) < 0.6) if keep]
    if len(kept) < 2:
        kept = arms[:2]  # a stretch of horizontal line
    # One straight vertical stroke is a 1 however long it is: only crossings, corners and horizontal lines go.
    if len(kept) == 2 and abs(kept[0][1] + kept[1][1]) < 0.5 and abs(kept[0][0]) < 0.5:
        kept = arms[:2]
    thickness = int(rng.integers(1, max(2, size // 8)))
    for dx, dy in kept:
        end = (int(centre[0] + dx * size), int(centre[1] + dy * size))
        cv2.line(ink, tuple(int(c) for c in centre), end, 255, thickness)
    return ink


def _edge(rng: np.random.Generator) -> np.ndarray:
    """A page's or a desk's edge: the border of a filled region cut by the crop (wide: a narrow bar is a 1)."""
    h = int(rng.integers(20, 70))
    w = int(h * rng.uniform(0.6, 1.5))
    ink = np.zeros((h, w), np.uint8)
    points = np.int32([[0, 0], [int(rng.integers(1, w)), 0], [int(rng.integers(1, w)), h], [0, h]])
    cv2.fillConvexPoly(ink, points, 255)
    return ink if rng.random() < 0.5 else ink[:, ::-1]


def _scribble(rng: np.random.Generator) -> np.ndarray:
    """A pen's random stroke: a smooth curve through a few points."""
    size = 60
    ink = np.zeros((size, size), np.uint8)
    points = rng.uniform(5, size - 5, (int(rng.integers(3, 7)), 2))
    t = np.linspace(0, 1, 80)[:, None]
    curve = np.concatenate([(1 - t) ** 2 * a + 2 * (1 - t) * t * b + t ** 2 * c
                            for a, b, c in zip(points[:-2:2], points[1:-1:2], points[2::2])])
    cv2.polylines(ink, [curve.astype(np.int32)], False, 255, int(rng.integers(2, 6)))
    return ink


def _letters(fonts: list[Renderer], rng: np.random.Generator) -> np.ndarray:
    text = "".join(rng.choice(list(LETTERS), int(rng.choice([1, 1, 1, 2, 3]))))
    return _camera(fonts[rng.integers(len(fonts))].ink(text, int(rng.integers(0, 2))), rng)


def _half(mnist: Split, rng: np.random.Generator) -> np.ndarray:
    """A part of a handwritten digit (not of a 1, whose parts still look like a 1)."""
    index = rng.choice(np.flatnonzero(mnist.labels != 1))
    digit = mnist.images[index]
    x, y, w, h = cv2.boundingRect(digit)
    digit = digit[y:y + h, x:x + w]
    cut = rng.uniform(0.35, 0.6)
    if rng.random() < 0.5:
        part = digit[:, :max(1, int(w * cut))] if rng.random() < 0.5 else digit[:, int(w * (1 - cut)):]
    else:
        part = digit[:max(1, int(h * cut))] if rng.random() < 0.5 else digit[int(h * (1 - cut)):]
    return part


def _two_digits(mnist: Split, rng: np.random.Generator) -> np.ndarray:
    """Two handwritten digits run together, as a blob the finder did not split."""
    a, b = (mnist.images[i] for i in rng.integers(0, len(mnist), 2))
    overlap = int(rng.integers(4, 12))
    joined = np.zeros((28, 56 - overlap), np.uint8)
    joined[:, :28] = a
    joined[:, 28 - overlap:] = np.maximum(joined[:, 28 - overlap:], b)
    return joined


def _speck(rng: np.random.Generator) -> np.ndarray:
    ink = np.zeros((30, 30), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        cv2.circle(ink, tuple(int(v) for v in rng.integers(5, 25, 2)), int(rng.integers(1, 5)), 255, -1)
    return ink


def _wide_enough(ink: np.ndarray) -> bool:
    """Whether a negative is unlike a 1: anything as narrow as an upright stroke is a 1 to a reader (the
    right half of a 4, a page's edge), so such bars are left to the finder's page and line search."""
    _, _, w, h = cv2.boundingRect(ink)
    return w >= MIN_NEGATIVE_ASPECT * h


def negatives(fonts: list[Renderer], mnist: Split, count: int, rng: np.random.Generator) -> Split:
    makers: list[Callable[[], np.ndarray]] = [
        lambda: _lines(rng), lambda: _lines(rng), lambda: _edge(rng), lambda: _scribble(rng),
        lambda: _letters(fonts, rng), lambda: _letters(fonts, rng), lambda: _half(mnist, rng),
        lambda: _two_digits(mnist, rng), lambda: _speck(rng)]
    images = []
    while len(images) < count:
        # (Blurred first: a speck or a dash smeared upright is as narrow as a 1.)
        ink = _blurred(makers[rng.integers(len(makers))](), rng)
        if _wide_enough(ink):
            images.append(normalize_crop(ink))
    return Split(np.stack(images), np.full(count, NOT_A_DIGIT_LABEL, np.uint8))


def _joined(*splits: Split, rng: np.random.Generator) -> Split:
    images, labels = np.concatenate([s.images for s in splits]), np.concatenate([s.labels for s in splits])
    order = rng.permutation(len(labels))
    return Split(images[order], labels[order])


def world_dataset(mnist: Dataset, printed: int = 30_000, negative: int = 24_000, turned: int = 20_000,
                  seed: int = 0) -> Dataset:
    """MNIST plus turned handwritten digits, printed digits and "not a digit" crops; the test split's printed
    digits are in held-out font families, the rest drawn afresh (a fifth as many of each as for training)."""
    train_fonts, test_fonts = split_fonts(digit_fonts())
    if not train_fonts:
        raise EdgeDigitsError("no font with digits found (matplotlib ships DejaVu; or apt-get install fonts-dejavu)")
    print(f"world data: {len(train_fonts)} fonts for training, {len(test_fonts)} held out "
          f"({', '.join(sorted({family(f.path) for f in test_fonts}))})", file=sys.stderr)
    rng, test_rng = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    train = _joined(mnist.train, turned_digits(mnist.train, turned, rng), printed_digits(train_fonts, printed, rng),
                    negatives(train_fonts, mnist.train, negative, rng), rng=rng)
    test = _joined(mnist.test, turned_digits(mnist.test, turned // 5, test_rng),
                   printed_digits(test_fonts, printed // 5, test_rng),
                   negatives(test_fonts, mnist.test, negative // 5, test_rng), rng=test_rng)
    return Dataset(train, test, WORLD_CLASSES)
