"""Numbers: digits that stand together in a line of writing, read left to right."""
from __future__ import annotations

from typing import Sequence

from edgedigits.data import NOT_A_DIGIT

GAP = 0.8  # of the digits' height: a wider gap between two digits of a line starts a new number
WORD_GAP = 0.3  # of their height: letters of a word stand closer
# On a page of words, where letters broken in pieces and italic ones stand wider apart: a serif U or V whose hairline
# half fades leaves its stem as far from the word as that half was wide (text-only tuning footage, seeds 5-16: 15 -> 7
# false digits in 1,200 frames at 0.6 rather than 0.5, with STEM_HEIGHTS; ~19,000 digits of 8 conditions: 7 fewer).
WORDS_GAP = 0.6
TEXT_GAP = 1.6  # of their height: words of a line of printed text stand at most this far apart
LIKE_HEIGHTS = 1.6  # the most the taller of two digits of one line stands above the other
STEM_HEIGHTS = 2.0  # ...and a letter's stem above its word's lower-case letters (whose x-height is 0.5-0.65 of it)
# On a page of words, an upright piece of ink at least this share of a digit's height standing against its side (up
# to PIECE_GAP of its height off, or PIECE_PX) is a stroke broken off the letter the digit is part of: an italic A whose
# faded hairline left pieces beside its right half, read as 4 (text-only tuning footage, seeds 5-48: 27 -> 23 false
# digits in 4,400 frames, seeds 49-68, never looked at: 4 -> 3; text and 8 other conditions, ~48,000 digits, as before).
PIECE = 0.25
PIECE_GAP = 0.1
PIECE_PX = 2  # ...or up to 2 px off, what a faded hairline leaves at any size
LIKELY = 0.5  # a reading's score above which the model holds it more likely that digit than anything else
# A reading of "not a digit" whose likeliest digit scores this much is that digit beside a sure one: an odd large
# handwritten 4 or 7 reads N (held-out numbers 0.966 -> 0.968, forms 0.963 -> 0.965; at 0.1 forms' false 1s grew).
UNREAD_DIGIT = 0.2


def _same_line(a: dict, b: dict, heights: float = LIKE_HEIGHTS) -> bool:
    """Two readings of like height (the taller at most `heights` times the other) whose rows overlap by at least
    half the smaller one."""
    (_, ay, _, ah), (_, by, _, bh) = a["box"], b["box"]
    overlap = min(ay + ah, by + bh) - max(ay, by)
    return overlap >= 0.5 * min(ah, bh) and max(ah, bh) <= heights * min(ah, bh)


def _gap_between(a: dict, b: dict) -> int:
    """The px between two readings' boxes side by side (negative where they overlap in x)."""
    (ax, _, aw, _), (bx, _, bw, _) = a["box"], b["box"]
    return max(bx - (ax + aw), ax - (bx + bw))


def beside(a: dict, b: dict, gap: float, heights: float = LIKE_HEIGHTS) -> bool:
    """b stands on a's line (see _same_line), at most `gap` of their height to its left or right."""
    return _same_line(a, b, heights) and _gap_between(a, b) <= gap * max(a["box"][3], b["box"][3])


def likely(label: str, score: float) -> bool:
    """Whether a reading not sure enough alone is a digit beside a sure one: likely that digit, and no 1 (a 1
    must be sure alone, as any letter's stem reads as a weak 1)."""
    return label not in ("1", NOT_A_DIGIT) and score >= LIKELY


def with_neighbours(readings: list[dict], sure: list[bool]) -> list[bool]:
    """Which readings are digits: the sure ones, beside one of them the likely ones (a digit's neighbour in a
    number is a digit), and a likely 1 between two sure digits, no 1s (a stem beside one is a letter's)."""
    digits = [r for r, digit in zip(readings, sure) if digit]
    anchors = [d for d in digits if d["label"] != "1"]
    return [digit or likely(r["label"], r["score"]) and any(beside(d, r, GAP) for d in digits)
            or r["label"] == "1" and r["score"] >= LIKELY and _between(r, anchors)
            for r, digit in zip(readings, sure)]


def _between(reading: dict, digits: list[dict]) -> bool:
    """Whether a reading stands beside one of the digits on its left and beside another on its right."""
    x = reading["box"][0]
    return {d["box"][0] < x for d in digits if beside(d, reading, GAP)} == {True, False}


def unread_in_numbers(readings: list[dict], sure: list[bool], likeliest: list[tuple[str, float]]) -> dict[int, dict]:
    """The readings of "not a digit" (by index) that are digits, relabelled as their `likeliest` digit (label,
    score): those beside a sure digit other than a 1 whose likeliest digit, no 1, is at least UNREAD_DIGIT likely.
    (A word's stem reads as a sure 1: its letters, relabelled, would no longer make it a stem.)"""
    anchors = [r for r, digit in zip(readings, sure) if digit and r["label"] != "1"]
    return {k: dict(r, label=label, score=round(score, 4))
            for k, (r, (label, score)) in enumerate(zip(readings, likeliest))
            if r["label"] == NOT_A_DIGIT and label != "1" and score >= UNREAD_DIGIT
            and any(beside(anchor, r, GAP) for anchor in anchors)}


def page_of_words(labels: Sequence[str]) -> bool:
    """Whether a frame's readings (their labels) are a page of words: most of them, and at least 3, no digit."""
    unread = sum(label == NOT_A_DIGIT for label in labels)
    return unread >= 3 and 2 * unread >= len(labels)


def line_of_words(labels: Sequence[str]) -> bool:
    """Whether a line's readings are words: as page_of_words, its 1s not counted either way (every letter's stem
    reads as one: l, i, t, a u's side)."""
    return page_of_words([label for label in labels if label != "1"])


def writing_lines(readings: list[dict], gap: float = GAP) -> list[list[dict]]:
    """Readings chained into lines of writing: each at most `gap` of their height beside another of its line."""
    readings = sorted(readings, key=lambda r: r["box"][0])
    line = list(range(len(readings)))  # each reading's line, as the index of a reading in it (union-find)

    def first(i: int) -> int:
        while line[i] != i:
            line[i] = i = line[line[i]]
        return i
    for i, (ax, _, aw, ah) in enumerate(r["box"] for r in readings):
        for j in range(i + 1, len(readings)):
            if readings[j]["box"][0] - (ax + aw) > LIKE_HEIGHTS * gap * ah:  # (a taller neighbour is no taller)
                break
            if beside(readings[i], readings[j], gap):
                line[first(j)] = first(i)
    lines: dict[int, list[dict]] = {}
    for i, reading in enumerate(readings):
        lines.setdefault(first(i), []).append(reading)
    return list(lines.values())


def without_stems(digits: list[dict], unread: list[dict], words: bool = False) -> list[dict]:
    """The digits but the 1s that stand in a word: as close to a blob of their line that is no digit (`unread`)
    as letters stand, a 1 is an l, an I or an H's side; and so is a 1 as close to one of those (a serif H's
    two sides, a row of l's). On a page of words (`words`), or in a line of words (a heading above a puzzle), any
    digit standing so, or up to WORDS_GAP apart, is a letter (an A read as 4, the stroke of a broken U as 1); and
    so is any digit between the words of a line of text (_between_words), and on a page of words any digit
    against a piece of a letter (_against_a_piece)."""
    if words:
        broken = [d for d in digits if any(_against_a_piece(d, piece) for piece in unread)]
        digits, unread = [d for d in digits if d not in broken], unread + broken
        in_words = {id(d) for d in digits}
    elif sum(r["label"] == NOT_A_DIGIT for r in unread) >= 3:  # (with fewer, no line is one of words)
        between = _between_words(digits, unread)
        digits, unread = [d for d in digits if id(d) not in between], unread + [d for d in digits if id(d) in between]
        in_words = {id(d) for line in writing_lines(digits + unread) if line_of_words([r["label"] for r in line])
                    for d in line}
    else:
        in_words = set()
    while True:
        stems = [d for d in digits if (id(d) in in_words or d["label"] == "1") and any(
            beside(d, other, WORDS_GAP if id(d) in in_words else WORD_GAP, STEM_HEIGHTS) for other in unread)]
        if not stems:
            return digits
        digits, unread = [d for d in digits if d not in stems], unread + stems


def _against_a_piece(digit: dict, piece: dict) -> bool:
    """Whether a piece of ink stands against a digit's side within its height, upright (no wider than high nor than
    the digit) and at least PIECE of its height: a stroke of the letter the digit is the rest of."""
    (_, dy, dw, dh), (_, py, pw, ph) = digit["box"], piece["box"]
    return (_gap_between(digit, piece) <= max(PIECE_PX, PIECE_GAP * dh) and dy - PIECE_GAP * dh <= py
            and py + ph <= dy + (1 + PIECE_GAP) * dh and ph >= PIECE * dh and pw <= min(dw, ph))


def _between_words(digits: list[dict], unread: list[dict]) -> set[int]:
    """The digits (their ids) standing between words in a line of printed text: a page's o, s, l and q read as 0, 5,
    1 and 9 between letters read as no digit (a form's digits stand beside its label, not between words)."""
    between = set()
    for line in writing_lines(digits + unread, TEXT_GAP):
        words = [r["box"][0] for r in line if r["label"] == NOT_A_DIGIT]
        if line_of_words([r["label"] for r in line]):
            between |= {id(r) for r in line if min(words) < r["box"][0] < max(words)}
    return between


def group_numbers(digits: list[dict]) -> list[dict]:
    """The numbers of two or more digits among a frame's digits (box, label, score), in reading order: each
    with its box, its text and its least sure digit's score."""
    numbers: list[list[dict]] = []
    for digit in sorted(digits, key=lambda d: d["box"][0]):
        for number in numbers:
            if beside(number[-1], digit, GAP) and digit["box"][0] >= number[-1]["box"][0]:
                number.append(digit)
                break
        else:
            numbers.append([digit])
    found = []
    for number in (n for n in numbers if len(n) >= 2):
        x0 = min(d["box"][0] for d in number)
        y0 = min(d["box"][1] for d in number)
        x1 = max(d["box"][0] + d["box"][2] for d in number)
        y1 = max(d["box"][1] + d["box"][3] for d in number)
        found.append({"box": [x0, y0, x1 - x0, y1 - y0], "text": "".join(d["label"] for d in number),
                      "score": min(d["score"] for d in number)})
    return sorted(found, key=lambda n: (n["box"][1] // max(1, n["box"][3]), n["box"][0]))
