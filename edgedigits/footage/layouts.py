"""Where things are written on a page: anywhere (single digits and numbers), in a 9x9 puzzle's cells, or in a
form's boxed and comb fields. Each layout returns the placed glyphs and the lines to print on the paper."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgedigits.data import Split
from edgedigits.footage.conditions import Condition
from edgedigits.footage.glyphs import Glyph, digit, distractor, handwritten, word


@dataclass
class Layout:
    glyphs: list[Glyph]
    lines: list[tuple[tuple[int, int], tuple[int, int], int]] = field(default_factory=list)  # from, to, px


def _items(test: Split, rng: np.random.Generator, condition: Condition, count: int, heights: tuple[int, int]):
    """Groups of glyphs written side by side: single digits, or numbers of 2-4 digits."""
    items, left = [], count
    while left > 0:
        height = int(rng.integers(heights[0], heights[1] + 1))
        length = min(left, int(rng.integers(2, 5))) if condition.numbers and rng.random() < 0.7 else 1
        if condition.distractors and rng.random() < 0.4:
            items.append(([distractor(rng, height)], []))
            continue
        glyphs = [digit(test, rng, height, condition.printed, condition.camera) for _ in range(length)]
        gaps = [int(rng.integers(-max(1, height // 12), max(2, height // 4))) for _ in range(length - 1)]
        items.append((glyphs, gaps))
        left -= length
    return items


def _words(rng: np.random.Generator, heights: tuple[int, int]):
    """A heading and a few words of text, each an item of its own."""
    heading = [([word(rng, int(rng.integers(heights[0] + 8, heights[1] + 16)))], [])]
    return heading + [([word(rng, int(rng.integers(*heights)))], []) for _ in range(int(rng.integers(3, 8)))]


def _place(items, rng: np.random.Generator, width: int, height: int) -> list[Glyph]:
    """Non-overlapping positions for the items (dropping any that do not fit), glyphs side by side."""
    taken, placed = [], []
    for glyphs, gaps in items:
        item_w = sum(g.alpha.shape[1] for g in glyphs) + sum(gaps)
        item_h = max(g.alpha.shape[0] for g in glyphs)
        for _ in range(60):
            x = int(rng.integers(8, max(9, width - item_w - 8)))
            y = int(rng.integers(8, max(9, height - item_h - 8)))
            margin = max(10, item_h // 3)
            box = (x - margin, y - margin, x + item_w + margin, y + item_h + margin)
            if x + item_w < width - 8 and y + item_h < height - 8 and not any(
                    box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3] for t in taken):
                taken.append(box)
                for glyph, gap in zip(glyphs, [*gaps, 0]):
                    glyph.x, glyph.y = x, y + (item_h - glyph.alpha.shape[0]) // 2
                    placed.append(glyph)
                    x += glyph.alpha.shape[1] + gap
                break
    return placed


def free(test: Split, rng: np.random.Generator, condition: Condition, count: int, heights: tuple[int, int],
         width: int, height: int) -> Layout:
    """Digits and numbers anywhere on the page (with words around them, for text conditions)."""
    items = _items(test, rng, condition, count if condition.digits else 0, heights)
    if condition.text:
        items = _words(rng, (14, 28)) + items
    return Layout(_place(items, rng, width, height))


def _centred(glyph: Glyph, x: float, y: float, w: float, h: float, rng: np.random.Generator) -> Glyph:
    gh, gw = glyph.alpha.shape
    glyph.x = int(x + (w - gw) / 2 + rng.uniform(-0.06, 0.06) * w)
    glyph.y = int(y + (h - gh) / 2 + rng.uniform(-0.06, 0.06) * h)
    return glyph


def grid(test: Split, rng: np.random.Generator, condition: Condition, width: int, height: int) -> Layout:
    """A 9x9 puzzle: thin lines, thick ones around each 3x3 box, printed and handwritten digits in its cells."""
    side = rng.uniform(0.6, 0.9) * min(width, height)
    cell = side / 9
    x0, y0 = rng.uniform(8, width - side - 8), rng.uniform(8, height - side - 8)
    thin, thick = int(rng.integers(1, 3)), int(rng.integers(3, 6))
    lines = []
    for i in range(10):
        px = int(round(i * cell))
        weight = thick if i % 3 == 0 else thin
        lines.append(((int(x0) + px, int(y0)), (int(x0) + px, int(y0 + side)), weight))
        lines.append(((int(x0), int(y0) + px), (int(x0 + side), int(y0) + px), weight))
    glyphs = []
    if condition.digits:
        for row in range(9):
            for column in range(9):
                if rng.random() < 0.35:
                    glyph = digit(test, rng, int(cell * rng.uniform(0.5, 0.72)), condition.printed, True)
                    glyphs.append(_centred(glyph, x0 + column * cell, y0 + row * cell, cell, cell, rng))
    return Layout(glyphs, lines)


def _box(lines: list, x: float, y: float, w: float, h: float, weight: int) -> None:
    corners = [(int(x), int(y)), (int(x + w), int(y)), (int(x + w), int(y + h)), (int(x), int(y + h))]
    lines += [(a, b, weight) for a, b in zip(corners, corners[1:] + corners[:1])]


def form(test: Split, rng: np.random.Generator, condition: Condition, width: int, height: int) -> Layout:
    """Fields of a form, one above the other, each with a printed label: a comb of boxes with a handwritten digit
    in each, or an open box with a handwritten number in it."""
    glyphs, lines = [], []
    y, weight = rng.uniform(16, 40), int(rng.integers(1, 3))
    while True:
        box = rng.uniform(26, 44)
        tall = box * rng.uniform(1.1, 1.4)
        if y + tall > height - 12:
            break
        label = word(rng, int(rng.integers(12, 20)))
        label.x, label.y = int(rng.uniform(10, 30)), int(y + (tall - label.alpha.shape[0]) / 2)
        glyphs.append(label)
        x = label.x + label.alpha.shape[1] + rng.uniform(10, 30)
        count = int(rng.integers(2, 7))
        if x + count * box > width - 10:
            break
        if rng.random() < 0.6:  # a comb: one box a digit
            for k in range(count):
                _box(lines, x + k * box, y, box, tall, weight)
                if condition.digits:
                    glyphs.append(_centred(handwritten(test, rng, int(tall * rng.uniform(0.55, 0.75))),
                                           x + k * box, y, box, tall, rng))
        else:  # an open field with a number
            _box(lines, x, y, count * box, tall, weight)
            left = x + rng.uniform(4, 12)
            for _ in range(count if condition.digits else 0):
                glyph = handwritten(test, rng, int(tall * rng.uniform(0.55, 0.75)))
                glyph.x, glyph.y = int(left), int(y + (tall - glyph.alpha.shape[0]) / 2)
                left += glyph.alpha.shape[1] + rng.uniform(1, tall * 0.25)
                if left > x + count * box - 4:
                    break
                glyphs.append(glyph)
        y += tall + rng.uniform(14, 40)
    return Layout(glyphs, lines)
