"""Find handwritten digits in a camera frame and cut them out as MNIST-style crops."""
from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Sequence

import cv2
import numpy as np

from edgedigits.data import NOT_A_DIGIT
from edgedigits.device.layout import Grid, Page, ToFrame, View, dimmed, find_grid, find_page, frontal, paper_tone
from edgedigits.device.normalize import MNIST_BOX, normalize_crop, normalize_crops
from edgedigits.device.numbers import GAP, beside, likely, page_of_words, writing_lines

INK_FLOOR = 20.0  # ink strength below which a well-lit page's sensor noise lies
INKED = 0.08  # of a digit's strongest ink: fainter is the halo that blur and the grown mask leave around it, no stroke
# Of a small blob's Otsu threshold: faint digits whose blurred edges join them there stand apart at the first of these
# that parts them (small blue ballpoint digits in dim light: tuning desk_ruled_blue 27 more read over 8 seeds at 1.3
# alone, 1.2 and 1.5 fewer; 1.8 after it, 29 more of ~9,000 over 16 seeds, text as before; 1.6, 37, text 3 false more).
APART = (1.3, 1.8)
# A 1 cut from a digit it touches reads a little less sure than one alone (the cut leaves a sliver of its neighbour):
# in a blob cut into sure digits it counts from the score any digit is reported at ("17": 0.96 and 1.0 cut, N whole).
CUT_ONE = 0.9
# Degrees: a page turned less is read as it lies. A number's digits stand apart along it much as they do level, and
# turned upright (interpolated) its thin faint strokes would lose contrast: a dim sticky note's, 9 of 14 read -> 5.
UNTURNED = 10.0
# Degrees: writing whose digits stand in a row turned this much or more, in a frame showing no page edge (a page
# that fills it), is read along its row (tuning footage turned -25 to 35 degrees, ~550 digits: numbers 2-26 more
# read, text 0-17; a webcam's number written aslant, its 7 read "not a digit" as it lay: 5 -> 6 of 6). Less: as it lies.
SLANTED = 15.0
# A narrow blob in a grid's front view whose ink runs on down its columns this many times its height is a piece of a
# line (tuning seeds 1-8, 30 frames each: grid's false digits 69 -> 50, grid_desk's 173 -> 118, form's as before,
# as many digits read; photos as before).
LINE_PIECE = 2.0
WORD_WIDTH = 3.5  # a blob this many times as wide as high is no digit: a word whose letters ran together
# Of a comb's width: its first and last teeth stand this close to its ends (tuning forms' open combs: 0.07 at most;
# numbers' touching digits read as one: 0.04-0.25, tuning numbers 6 more digits read at 0.1, none lost anywhere).
COMB_END = 0.1
# A bar three times as long as wide or more, read as a 1, is a word on its side (a page taken across, a puzzle's
# sideways caption) when this share of its rows, in two stretches or more, cross two strokes: a 1's rows cross one
# (tuning text-only footage turned 90 degrees: 1,200 -> 70 false digits, 119 at 0.1; of 494 1s as long in 12
# conditions' tuning footage, none flagged even at 0.03). Tall narrow 9s and 0s cross two too: they are read as what
# they are.
SIDEWAYS = 0.05
# The sizes above (stroke, line, kernel) are set for a camera's 640x480 frame. A smaller image is read enlarged to it
# (a 320x240 webcam's footage: plain F1 0.906 -> 0.975, desk 0.846 -> 0.959). A larger one whose digits stand taller
# than TALL px is read again shrunk until they stand about DIGIT px, no smaller than a camera's frame: a phone's photo
# of a page of large handwriting (footage enlarged 2x: plain F1 0.954 -> 0.976, ruled 0.810 -> 0.906).
CAMERA_SIDE, TALL, DIGIT = 640, 60, 40
# px: an image under this is a crop (a digit or a few, posted alone), no frame: read as it is, and no grid is
# looked for in it (its quarter would be a few pixels). Enlarged to a frame, a 28x28 digit cost 20 ms, not 1.
CROP_SIDE = CAMERA_SIDE // 4


@dataclass(frozen=True)
class DetectOptions:
    min_height: int = 15  # px; smaller blobs are specks, not digits
    max_height_ratio: float = 0.6  # of the frame height; larger blobs are page edges or shadows
    min_ink: float = 0.06  # share of the box covered by ink
    background_kernel: int = 41  # px; must exceed a stroke's width
    line_length: float = 0.25  # of the frame's larger side: straight ink this long is a ruled or grid line...
    line_thickness: float = 5.0  # ...if no thicker than this (px on average)
    line_turn: float = 45.0  # degrees: the most a line may lie off level or plumb (45: at any angle)
    wide: float = 1.0  # width / height above which a blob may be several touching digits
    narrow: float = 0.6  # ...and above which two, one of them narrow (a 1 against a 9), where it reads as no digit
    scale: float = 0.5  # blobs are found on the frame shrunk by this (4x fewer pixels); small ones are cut full size
    dark: bool | None = None  # dark ink on light paper, or light on dark; None: find out per frame
    grids: bool = True  # look for a printed grid or table and read it from the front
    pages: bool = True  # look for a page's edge against a darker desk, and read the page only
    faint_lines: bool = False  # look for lines at half the ink's threshold too (in a grid's front view)
    line_pieces: bool = False  # drop narrow blobs whose ink runs on along a line (in a grid's front view)
    largest: int = 1280  # px: a larger image (a phone's photo) is read shrunk to this longer side: its strokes and
    # letters would be thicker and taller than the sizes above expect
    letters: bool = False  # also return the blobs too short or too wide for a digit, as candidates of no reading:
    # a word's lower-case letters, words run together, beside which a capital's stem is a letter's (see read_digits)


@dataclass(slots=True)
class Candidate:
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    crop: np.ndarray  # 28x28 uint8, white digit on black (a letter's, see DetectOptions.letters: its mask as found)
    group: int = 0  # candidates of one blob: read either as one digit or as the parts of one of its cuttings
    readings: tuple[tuple[int, int], ...] = ((1, 0),)  # the readings of its blob it is part of: (parts, way)
    narrow: bool = False  # a part of a blob narrower than `wide`: read only as choose_reading's _split_beside says
    sideways: bool = False  # a long bar whose rows cross two strokes, as a word's on its side do: no 1 (SIDEWAYS)

    @property
    def whole(self) -> bool:
        return self.readings == ((1, 0),)

    @property
    def letter(self) -> bool:  # (part of no reading: see DetectOptions.letters)
        return not self.readings


@functools.lru_cache(maxsize=8)
def _ellipse(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


@dataclass(frozen=True)
class Ink:
    strength: np.ndarray  # 0..255 per pixel, whatever the lighting and whichever the ink's polarity
    paper: np.ndarray  # the paper's brightness under the ink
    dark: bool  # dark ink on light paper
    least: float  # the lowest threshold: above a blank page's sensor noise (INK_FLOOR, or lower: see dimmed)


def _against_paper(image: np.ndarray, paper: np.ndarray | float, dark: bool) -> np.ndarray:
    """Ink strength: how far each pixel lies from the paper's brightness, towards the ink's."""
    return cv2.subtract(paper, image) if dark else cv2.subtract(image, paper)


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _half(image: np.ndarray) -> np.ndarray:
    """The image at half its size, each pixel the mean of a 2x2 block."""
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _quarter(image: np.ndarray) -> np.ndarray:
    """The image at a quarter of its size, each pixel the mean of a 4x4 block (OpenCV halves 10x faster than
    it quarters, so it halves twice)."""
    return _half(_half(image))


def ink_map(gray: np.ndarray, kernel: int, dark: bool | None = None) -> Ink:
    """How strongly each pixel of a grayscale image is ink, with the paper's uneven light taken out; the ink's
    polarity is found unless given."""
    gray = cv2.GaussianBlur(gray, (3, 3), 0)
    # The paper's brightness varies slowly, so a quarter-size estimate is enough and 16x cheaper.
    small = _quarter(gray)
    size = kernel // 4 | 1
    dark = _darker_ink(small, size) if dark is None else dark
    # Closing takes dark ink out of the picture, opening light ink: what is left is the paper.
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE if dark else cv2.MORPH_OPEN, _ellipse(size))
    least = dimmed(INK_FLOOR, paper_tone(small)) if dark else INK_FLOOR
    paper = cv2.resize(paper, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    return Ink(_against_paper(gray, paper, dark), paper, bool(dark), least)


def _darker_ink(small: np.ndarray, size: int) -> bool:
    """Whether ink is darker than its paper: ink is the longer tail of the image's departures from its local
    mean. (The paper under dark ink, a closing, against that under light ink, an opening, took the paper
    between a form's dark boxes for light ink.)"""
    image = small.astype(np.float32)
    # (A sort of these few thousand values is 5x cheaper than np.partition at two ranks.)
    departures = np.sort((image - cv2.GaussianBlur(image, (0, 0), 0.8 * size)).ravel())
    rank = len(departures) // 200
    return bool(-departures[rank] >= departures[-1 - rank])


def _straight_lines(mask: np.ndarray, kernel: np.ndarray, along: int, thickness: float) -> np.ndarray:
    """The ruled or grid lines among the straight runs of ink along the kernel in (part of) a mask."""
    lines = np.zeros_like(mask)
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel), 8, cv2.CV_32S, cv2.CCL_GRANA)
    for i in range(1, count):
        x, y, w, h, area = stats[i]
        if area / stats[i, along] > thickness:
            continue
        # A ruled line has paper beside it; a straight run inside a thick digit stroke has ink beside it.
        x0, y0 = max(0, x - 4), max(0, y - 4)
        line = (labels[y0:y + h + 4, x0:x + w + 4] == i).astype(np.uint8)
        beside = cv2.dilate(line, np.ones((9, 9), np.uint8)) > line
        if (mask[y0:y + h + 4, x0:x + w + 4][beside] > 0).mean() < 0.5:
            lines[y0:y + h + 4, x0:x + w + 4] |= line * 255
    return lines


def _ink_threshold(ink: np.ndarray, least: float) -> float:
    """Otsu's threshold from every 4th pixel of every 4th row (the same histogram's shape, 16x cheaper); on a
    blank page Otsu splits sensor noise, hence the floor `least`."""
    threshold, _ = cv2.threshold(ink[::4, ::4], 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return max(threshold, least)


def ink_mask(ink: np.ndarray, threshold: float, least: float, options: DetectOptions, scale: float = 1.0
             ) -> np.ndarray:
    """Binary ink (at `threshold`, its _ink_threshold above `least`) with frames and ruled and grid lines taken out,
    on a frame shrunk by `scale`."""
    _, mask = cv2.threshold(ink, threshold, 255, cv2.THRESH_BINARY)
    thresholded = mask.copy()
    # Frames first: a box's sides are too short for a ruled line, and would stand as 1s once its long top and
    # bottom went with the ruled lines.
    blobs = _blob_boxes(mask, options, scale)
    # A blob twice as wide as high may be a frame too: a comb whose cells the digits in it cut up.
    wide = [box for box in blobs.boxes if box[2] >= 2 * box[3] >= 2 * options.min_height * scale]
    changed = False
    # A form read at FORM_SCALE: its boxes found at half the threshold too, where the dark lines of a box with
    # faint writing in it (below Otsu's threshold: no blob in its hole) hold.
    frames = _blob_boxes(_faint(ink, threshold), options, scale).frames if scale == FORM_SCALE else blobs.frames
    for frame, closed in [(frame, True) for frame in frames] + [(frame, False) for frame in wide]:
        changed = _unframed(mask, frame, closed) or changed
    if changed:
        mask = _written_in_frames(ink, mask, thresholded, threshold, least)
    # (Frames taken apart leave shorter blobs than were found.)
    lines = _ruled_lines(mask, options, scale, None if changed else blobs.longest)
    if lines is None:  # (with lines, grown strokes would join what is left of them to the digits)
        return _grown(mask, ink, threshold, cv2.subtract(thresholded, mask) if changed else None)
    # Dark printed lines set Otsu's threshold above lighter ink (handwriting in a puzzle) and lighter lines: the
    # threshold is taken again from what lies off the lines found, and lines looked for again at it (not where
    # frames were taken apart: a lower threshold would bring back what is left of their lines).
    rest = cv2.subtract(ink, cv2.dilate(lines, np.ones((3, 3), np.uint8)))
    second = _ink_threshold(rest, least)
    if not changed and second < threshold:
        _, mask = cv2.threshold(ink, second, 255, cv2.THRESH_BINARY)
        more = _ruled_lines(mask, options, scale)
        lines = lines if more is None else cv2.bitwise_or(lines, more)
    if options.faint_lines:
        for found in (_faint_lines(ink, threshold, options, scale), _bent_lines(mask, lines, options, scale)):
            lines = lines if found is None else cv2.bitwise_or(lines, found)
    return _without(mask, lines, (7, 3))


def _faint_lines(ink: np.ndarray, threshold: float, options: DetectOptions, scale: float) -> np.ndarray | None:
    """The level and plumb lines of a grid's front view at half the threshold: a thin line (faint, or bent by the
    lens) breaks up at the threshold into pieces shorter than a line, which join the digits above and below."""
    return _level_lines(_faint(ink, threshold), *_line_size(ink.shape, options, scale))


def _long_blobs(mask: np.ndarray, length: int) -> np.ndarray:
    """The blobs of a mask at least `length` long (wide or high)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    is_long = np.zeros(count, np.uint8)
    long = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]) >= length
    is_long[1 + np.flatnonzero(long)] = 255
    return is_long[labels]


def _bent_lines(mask: np.ndarray, lines: np.ndarray, options: DetectOptions, scale: float) -> np.ndarray | None:
    """The lines of a grid's front view that a lens bent (its sides bowed), where the straight `lines` leave blobs as
    long as a line: looked for in halves of the view, where they lie nearly straight."""
    length, _ = _line_size(mask.shape, options, scale)
    if not _long_blobs(cv2.subtract(mask, cv2.dilate(lines, np.ones((3, 3), np.uint8))), length).any():
        return None
    # The whole of the lines, not what the straight search left: a bent line's straight piece is part of it.
    blobs, bent = _long_blobs(mask, length), np.zeros_like(mask)
    height, width = mask.shape
    # Halves at quarter steps: a line's piece across one half's edge lies whole in the next.
    for top, left in itertools.product((0, height // 4, height // 2), (0, width // 4, width // 2)):
        found = _ruled_lines(blobs[top:top + height // 2, left:left + width // 2], options, scale)
        if found is not None:
            bent[top:top + height // 2, left:left + width // 2] |= found
    return bent if bent.any() else None


def _line_size(shape: tuple[int, ...], options: DetectOptions, scale: float) -> tuple[int, float]:
    """How long a ruled or grid line is at least, and how thick at most, in a mask of `shape` shrunk by `scale`."""
    return max(15, int(max(shape) * options.line_length)), options.line_thickness * scale


def _faint(ink: np.ndarray, threshold: float) -> np.ndarray:
    """Ink at least half as strong as `threshold`: strokes' soft edges, and thin lines that break up at it."""
    _, faint = cv2.threshold(ink, threshold / 2, 255, cv2.THRESH_BINARY)
    return faint


def _written_in_frames(ink: np.ndarray, mask: np.ndarray, thresholded: np.ndarray, threshold: float, least: float
                       ) -> np.ndarray:
    """The mask with the fainter writing in frames added: a box's dark lines set Otsu's threshold above it. The
    threshold is taken again off what was taken out with the frames (grown: their lines' soft edges stay out)."""
    kept_out = cv2.dilate(cv2.subtract(thresholded, mask), np.ones((5, 5), np.uint8))
    second = _ink_threshold(cv2.subtract(ink, kept_out), least)
    if second >= threshold:
        return mask
    _, lower = cv2.threshold(ink, second, 255, cv2.THRESH_BINARY)
    return cv2.bitwise_or(mask, cv2.subtract(lower, kept_out))


def _grown(mask: np.ndarray, ink: np.ndarray, threshold: float, kept_out: np.ndarray | None) -> np.ndarray:
    """The mask grown by two pixels into ink at least half as strong as its threshold (not into `kept_out`, if any):
    the faint edges of strokes, which make a faint digit whole and join a word's letters into one blob that
    reads as no digit rather than as 1s."""
    # Only around the ink: most frames hold a few digits in a small part of the frame.
    x, y, w, h = cv2.boundingRect(mask)
    x0, y0, x1, y1 = max(0, x - 2), max(0, y - 2), x + w + 2, y + h + 2
    faint = _faint(ink[y0:y1, x0:x1], threshold)
    if kept_out is not None:
        faint = cv2.subtract(faint, kept_out[y0:y1, x0:x1])
    grown = mask[y0:y1, x0:x1]
    for _ in range(2):
        grown = cv2.bitwise_and(cv2.dilate(grown, np.ones((3, 3), np.uint8)), faint)
    mask = mask.copy()
    mask[y0:y1, x0:x1] |= grown
    return mask


def _ruled_lines(mask: np.ndarray, options: DetectOptions, scale: float, longest: int | None = None
                 ) -> np.ndarray | None:
    """The ruled and grid lines of a mask (shrunk by `scale`), level or turned, or None when it has none (as
    when its longest blob, `longest` px if known, is shorter than a line: most frames)."""
    length, thickness = _line_size(mask.shape, options, scale)
    if longest is None:
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        longest = max((max(cv2.boundingRect(contour)[2:]) for contour in contours), default=0)
    if longest < length:
        return None
    level = _level_lines(mask, length, thickness)
    turned = _turned_lines(mask, level, length, thickness, options.line_turn)
    if level is None or turned is None:
        return level if turned is None else turned
    return cv2.bitwise_or(level, turned)


def _levelling(angle: float) -> float:
    """The turn (degrees, -45..45) that brings a line at `angle` to the nearer of level and plumb."""
    return (angle + 45) % 90 - 45


def _strongest_angles(blobs: np.ndarray, length: int, most: float) -> np.ndarray:
    """The angles (radians) of the straight lines at least `length` long in a mask, strongest first: at most
    `most` degrees off level or plumb (a Hough over those angles only: 30 of 180 costs a sixth)."""
    if most >= 45:
        found = cv2.HoughLines(blobs, 1, np.pi / 180, length)
        return np.empty(0) if found is None else found[:, 0, 1]
    turn, step = np.radians(round(most)), np.pi / 180
    found = [cv2.HoughLinesWithAccumulator(blobs, 1, step, length, min_theta=low, max_theta=high)
             for low, high in ((0, turn), (np.pi / 2 - turn, np.pi / 2 + turn), (np.pi - turn, np.pi - step / 2))]
    lines = np.concatenate([f.reshape(-1, 3) for f in found if f is not None] or [np.empty((0, 3))])
    return lines[np.argsort(-lines[:, 2], kind="stable"), 1]


def _turned_lines(mask: np.ndarray, level: np.ndarray | None, length: int, thickness: float,
                  most: float) -> np.ndarray | None:
    """Lines turned in the frame (a page or a puzzle lying askew, at most `most` degrees), which the level search
    (that found `level`) cannot see: blobs as long as a line are turned level by the angles of their strongest
    straight lines."""
    blobs = _long_blobs(mask, length)
    # A level grid or ruled page is nearly all level lines: then nothing is left to turn (a Hough costs up to 9 ms).
    # The turned lines' angles are taken from the whole blobs: the level lines cut turned ones into short pieces.
    if level is not None and cv2.countNonZero(cv2.subtract(blobs, level)) < 0.15 * cv2.countNonZero(blobs):
        return None
    # Seen from the side, a grid's two families of lines are not square to each other: up to two turns.
    angles: list[float] = []
    for theta in _strongest_angles(blobs, length, most)[:30]:
        angle = _levelling(np.degrees(theta))
        if all(abs(angle - other) > 5 for other in angles):
            angles.append(angle)
    lines = None
    height, width = mask.shape
    for angle in angles[:2]:
        if abs(angle) < 2:  # the level search sees lines this close to level
            continue
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        upright = _level_lines(cv2.warpAffine(mask, turn, (width, height), flags=cv2.INTER_NEAREST), length, thickness)
        if upright is not None:
            back = cv2.warpAffine(upright, cv2.invertAffineTransform(turn), (width, height), flags=cv2.INTER_NEAREST)
            lines = back if lines is None else cv2.bitwise_or(lines, back)
    return lines


def _level_lines(mask: np.ndarray, length: int, thickness: float) -> np.ndarray | None:
    """The level and plumb lines at least `length` long and no thicker than `thickness` of a mask, or None."""
    # Long runs are searched for at quarter size (any ink in a 4x4 block), 60x cheaper; only where one
    # shows up is the full-size mask looked at.
    _, small = cv2.threshold(_quarter(mask), 0, 1, cv2.THRESH_BINARY)
    lines = None
    # (kernel shape, the stats column of the run's length, the dimension cv2.reduce adds a row or column up over)
    for shape, along, dimension in (((1, length), 2, 1), ((length, 1), 3, 0)):
        if cv2.reduce(small, dimension, cv2.REDUCE_SUM, dtype=cv2.CV_32S).max() < length // 4:
            continue  # no row (column) holds that much ink, so no run that long
        kernel = np.ones(shape, np.uint8)
        runs = cv2.morphologyEx(small, cv2.MORPH_OPEN, np.ones((max(1, shape[0] // 4), max(1, shape[1] // 4)), np.uint8))
        if not cv2.countNonZero(runs):
            continue
        lines = np.zeros_like(mask) if lines is None else lines
        # All runs at once, in the box around them: searched one by one, a puzzle's 20 lines cost a frame 4 ms more.
        x, y, w, h = cv2.boundingRect(runs)
        x0, y0, x1, y1 = max(0, 4 * x - 4), max(0, 4 * y - 4), 4 * (x + w) + 4, 4 * (y + h) + 4
        lines[y0:y1, x0:x1] |= _straight_lines(mask[y0:y1, x0:x1], kernel, along, thickness)
    return lines if lines is not None and lines.any() else None


def _without(mask: np.ndarray, lines: np.ndarray, across: tuple[int, int]) -> np.ndarray:
    """The mask with its lines taken out, and the gaps they leave in strokes that crossed them closed (by a
    kernel `across` the lines) there only: elsewhere closing would fill the loops of small digits."""
    band = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    mask = cv2.subtract(mask, band)
    kernel = np.ones(across, np.uint8)
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return cv2.bitwise_or(mask, cv2.bitwise_and(closed, cv2.dilate(band, kernel)))


def _unframed(mask: np.ndarray, frame: tuple[int, int, int, int], closed: bool) -> bool:
    """Take a box's or a table's straight lines out of the mask (in place), turned upright first, so that the
    digits that touch them stand free; an open shape (`closed` False) must show a comb's lines to be one.
    Whether it was a frame."""
    x, y, w, h = frame
    region = mask[y:y + h, x:x + w]
    ink = cv2.findNonZero(region)
    if ink is None:  # a comb inside a frame already taken out
        return False
    centre, _, angle = cv2.minAreaRect(ink)
    angle = _levelling(angle)  # (minAreaRect's angle conventions differ between OpenCV versions)
    # A turn under a degree would only leave a staircase in lines that are level already.
    turn = cv2.getRotationMatrix2D(centre, angle if abs(angle) >= 1 else 0.0, 1.0)
    upright = cv2.warpAffine(region, turn, (w, h), flags=cv2.INTER_NEAREST)
    left, top, width, height = cv2.boundingRect(upright)
    # Lines span the frame (a box, a comb, a table): across its height, and along at least as far as it is
    # high; no stroke of a digit inside spans 90 % of its box.
    along, down = (max(3, int(0.9 * side)) for side in (min(width, height), height))
    level = cv2.morphologyEx(upright, cv2.MORPH_OPEN, np.ones((1, along), np.uint8))
    plumb = cv2.morphologyEx(upright, cv2.MORPH_OPEN, np.ones((down, 1), np.uint8))
    upright_at = cv2.reduce(plumb, 0, cv2.REDUCE_MAX).ravel() > 0  # the columns of upright lines
    sides = np.diff(upright_at, prepend=False).sum()  # their edges
    spans = np.flatnonzero(cv2.reduce(level // 255, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() >= 0.8 * width)
    if not len(spans):
        return False  # no line spans it: digits written close, not a frame
    # An open shape with no two sides, no thin line (a 5's long flag), its line along the top only (small
    # touching digits whose 7 bars and 5 flags join) or no upright line at either end (small touching digits
    # standing on their joined feet, "220"): no comb, whose boxes stand on a line between its first and last teeth.
    if not closed and (sides < 4 or cv2.countNonZero(level) > 0.3 * width * height or spans.max() < top + height / 2
                       or not _teeth_at_ends(np.flatnonzero(upright_at), left, width)):
        return False
    lines = cv2.bitwise_or(level, plumb)
    lines = cv2.warpAffine(lines, cv2.invertAffineTransform(turn), (w, h), flags=cv2.INTER_NEAREST)
    region[:] = _without(region, lines, (3, 3))
    return True


def too_wide(box: tuple[int, int, int, int]) -> bool:
    """Whether a blob's box is too wide for a digit (WORD_WIDTH): a word whose letters ran together."""
    return box[2] > WORD_WIDTH * box[3]


def _teeth_at_ends(columns: np.ndarray, left: int, width: int) -> bool:
    """Whether a shape's upright lines (their `columns`) stand at both its ends, within COMB_END of its width."""
    return columns[0] <= left + COMB_END * width and columns[-1] >= left + width - 1 - COMB_END * width


def _merge_broken(boxes: list[list[int]]) -> list[list[int]]:
    """Join blobs stacked closely above each other: the pieces of one broken digit (a 5's flag, a 4's top)."""
    boxes = sorted(boxes)  # by x, so the search for a box's partners ends at the first box right of it
    i = 0
    while i < len(boxes):
        ax, ay, aw, ah = boxes[i]
        for j in range(i + 1, len(boxes)):
            bx, by, bw, bh = boxes[j]
            if bx >= ax + aw:
                i += 1
                break
            overlap = min(ax + aw, bx + bw) - bx
            gap = max(ay, by) - min(ay + ah, by + bh)
            if overlap > 0.5 * min(aw, bw) and gap < 0.2 * max(ah, bh):
                y = min(ay, by)
                boxes[i] = [ax, y, max(ax + aw, bx + bw) - ax, max(ay + ah, by + bh) - y]
                del boxes[j]
                # The grown box may now join a box already passed: those reaching past its left side, the
                # first of them to be looked at again (boxes are in x order, and the grown one kept its x).
                i = next(k for k in range(i + 1) if boxes[k][0] + boxes[k][2] > ax)
                break
        else:
            i += 1
    return boxes


def _valleys(profile: np.ndarray, margin: int, most: int = 5) -> list[int]:
    """The columns, `margin` or more from the sides, where a blob's ink runs thinnest (the middles of its smoothed
    profile's troughs): the `most` deepest, left to right."""
    smooth = np.convolve(profile, [1, 2, 1], mode="same")
    found, i = [], max(1, margin)
    while i < len(smooth) - margin:
        end = i
        while end + 1 < len(smooth) - 1 and smooth[end + 1] == smooth[i]:
            end += 1
        if smooth[i - 1] > smooth[i] < smooth[end + 1]:
            found.append((smooth[i], (i + end) // 2))
        i = end + 1
    return sorted(column for _, column in sorted(found)[:most])


def _cuttings(mask: np.ndarray, most: int) -> list[list[int]]:
    """Every way to cut a blob into 2 to `most` digits of the widths digits have (a 1 beside a 0) at the valleys
    of its ink: by their number of parts, the least ink cut first."""
    profile = cv2.reduce(mask, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
    height, width = mask.shape
    # A 5 or a 7 with a long stroke on top stands up to 1.4 times as wide as high (at 1.25 a 5 run into a 2 had no
    # cut in two, and "525" read 5 and a 3-part N).
    least, largest = 0.15 * height, 1.5 * height
    valleys = _valleys(profile, max(2, int(least)))
    found = []
    for parts in range(2, most + 1):
        for cuts in itertools.combinations(valleys, parts - 1):
            edges = (0, *cuts, width)
            if all(least <= right - left <= largest for left, right in zip(edges, edges[1:])):
                found.append((parts, profile[list(cuts)].sum(), list(cuts)))
    return [cuts for _, _, cuts in sorted(found)]


@dataclass(slots=True)
class Blob:
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    mask: np.ndarray  # the blob's mask and ink (white on black), at `scale` of the frame's size
    ink: np.ndarray
    scale: float


def _cut(gray: np.ndarray, ink: Ink, mask: np.ndarray, box: list[int], scale: float) -> Blob:
    """A blob found on the shrunk frame: cut from the shrunk maps when it is tall enough to fill MNIST's 20 px
    there, else from the full-size frame so that small digits keep their detail."""
    x, y, w, h = box
    if h >= MNIST_BOX or scale == 1:
        frame_box = (int(x / scale), int(y / scale), int(w / scale), int(h / scale))
        return Blob(frame_box, mask[y:y + h, x:x + w], ink.strength[y:y + h, x:x + w], scale)
    x0, y0 = int(x / scale), int(y / scale)
    x1, y1 = min(gray.shape[1], int((x + w) / scale)), min(gray.shape[0], int((y + h) / scale))
    size = (x1 - x0, y1 - y0)
    # The paper's light hardly changes across a digit this small: its value at the centre serves for all of it.
    paper = float(ink.paper[y + h // 2, x + w // 2])
    region = gray[y0:y1, x0:x1]
    strength = _against_paper(region, paper, ink.dark)
    blob = cv2.resize(mask[y:y + h, x:x + w], size, interpolation=cv2.INTER_NEAREST)
    return Blob((x0, y0, x1 - x0, y1 - y0), blob, cv2.bitwise_and(strength, blob), 1.0)


def _apart(blob: Blob, group: int) -> list[Candidate]:
    """A small wide blob's digits, where they stand apart at full size (at half size a one-pixel gap closes):
    each tall piece of its ink at the blob's own Otsu threshold (or the first of APART's times it that parts them),
    with the specks nearest to it."""
    if blob.scale != 1.0:
        return []
    otsu, _ = cv2.threshold(blob.ink, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    for threshold in (otsu, *(share * otsu for share in APART)):
        _, binary = cv2.threshold(blob.ink, threshold, 255, cv2.THRESH_BINARY)
        count, labels, stats, centroids = cv2.connectedComponentsWithStats(binary)
        tall = [i for i in range(1, count) if stats[i, cv2.CC_STAT_HEIGHT] >= 0.5 * binary.shape[0]]
        if len(tall) >= 2:
            break
    if not 2 <= len(tall) <= 4:
        return []
    nearest = np.array([0] + [min(tall, key=lambda t: abs(centroids[t][0] - centroids[i][0])) for i in range(1, count)])
    owner = nearest[labels]
    x, y = blob.box[:2]
    pieces = []
    for piece in sorted(tall, key=lambda t: stats[t, cv2.CC_STAT_LEFT]):
        ink = np.where(owner == piece, blob.ink, 0).astype(np.uint8)
        left, top, width, height = cv2.boundingRect(ink)
        pieces.append(Candidate((x + left, y + top, width, height), ink[top:top + height, left:left + width], group,
                                ((len(tall), 0),)))
    return pieces


def _parts(blob: Blob, group: int, most: int, narrow: bool = False) -> list[Candidate]:
    """A blob's readings in 2 to `most` parts, cut at its ink's valleys every way they allow (ways 1, 2, ...; way 0
    is as they stand apart), each piece cut once whatever the readings it is part of (`narrow`: see Candidate)."""
    x, y, w, h = blob.box
    pieces: dict[tuple[int, int], Candidate | None] = {}  # by its columns in the blob
    for way, cuts in enumerate(_cuttings(blob.mask, most), start=1):
        edges = [0, *cuts, blob.ink.shape[1]]
        for left, right in zip(edges, edges[1:]):
            if (left, right) not in pieces:
                piece = blob.ink[:, left:right]
                _, top, _, height = cv2.boundingRect(piece)  # the rows the piece's ink spans
                box = tuple(round(v / blob.scale) for v in (left, top, right - left, height))
                pieces[left, right] = None if height == 0 else \
                    Candidate((x + box[0], y + box[1], *box[2:]), piece[top:top + height], group, (), narrow)
            if pieces[left, right] is not None:
                pieces[left, right].readings += ((len(cuts) + 1, way),)
    return [piece for piece in pieces.values() if piece is not None]


@dataclass(frozen=True)
class Inked:
    """A frame's ink found at `scale` of its size: the ink inside the mask, the mask, its blobs' boxes."""
    ink: Ink
    mask: np.ndarray
    boxes: list[list[int]]
    scale: float


# A form's boxes and combs are drawn with thin lines, which break up into dots at half size: no box is found
# there, and digits touching what is left of its lines are lost. A frame holding boxes is read at this scale.
FORM_SCALE = 0.75


def _boxed(ink: np.ndarray, threshold: float, options: DetectOptions, scale: float) -> bool:
    """Whether shrunk ink holds a form's boxes or combs: their broken outlines close at half the threshold (and
    show straight lines, which a word whose letters join there does not)."""
    faint = _faint(ink, threshold)
    return any(_unframed(faint, frame, True) for frame in _blob_boxes(faint, options, scale).frames)


def _blobs(gray: np.ndarray, options: DetectOptions, small: np.ndarray | None = None) -> Inked:
    """Ink and its mask on the frame shrunk by options.scale (`small`, if already made) or, for a form, by
    FORM_SCALE, and the boxes of its blobs (broken digits joined)."""
    scale = options.scale
    if small is None:
        small = gray if scale == 1 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ink = ink_map(small, int(options.background_kernel * scale), options.dark)
    threshold = _ink_threshold(ink.strength, ink.least)
    if scale < FORM_SCALE and _boxed(ink.strength, threshold, options, scale):
        return _blobs(gray, replace(options, scale=FORM_SCALE, dark=ink.dark))
    mask = ink_mask(ink.strength, threshold, ink.least, options, scale)
    found = _blob_boxes(mask, options, scale)
    # An outline still standing once frames were taken out had no frame's straight lines: touching digits with two
    # loops (00, 08) have two holes as tall as a comb's cells. It is a blob, unless it holds one.
    boxes = found.boxes + [frame for frame in found.frames if not any(_holds(frame, box) for box in found.boxes)]
    # From here on only the ink inside the mask counts: ruled lines, frames and faint specks are gone. Crops
    # take it from the unblurred frame: the blur that steadies the mask softens a digit enough to cost 1 pp of F1.
    ink = replace(ink, strength=cv2.bitwise_and(_against_paper(small, ink.paper, ink.dark), mask))
    # A blob too tall for a digit (what is left of a puzzle's thick lines) is no digit's broken piece, and
    # merged with the digits it surrounds it would take them along when it is dropped.
    tallest = options.max_height_ratio * mask.shape[0]
    return Inked(ink, mask, _merge_broken([box for box in boxes if box[3] <= tallest]), scale)


def _holds(outer: list[int], inner: list[int]) -> bool:
    """Whether a box (x, y, w, h) holds another."""
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[0] + inner[2] <= outer[0] + outer[2] \
        and inner[1] + inner[3] <= outer[1] + outer[3]


@dataclass(frozen=True)
class Blobs:
    boxes: list[list[int]]  # x, y, w, h of each blob, those inside a closed outline included
    frames: list[list[int]]  # outlines with a blob in a hole: a form's box, a table's cells
    longest: int  # px, the longest side of any blob's box: no ruled line is longer


def _blob_boxes(mask: np.ndarray, options: DetectOptions, scale: float) -> Blobs:
    """The blobs of a mask (shrunk by `scale`): digits and what else, the frames apart."""
    # A third of the smallest digit: the pieces of a broken one are joined later.
    min_height, min_area = options.min_height * scale / 3, 6 * scale * scale
    # Contours find the blobs about 10x faster than labelling every pixel would; the two-level hierarchy puts
    # a blob in a box's hole at the top level, beside the box.
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return Blobs([], [], 0)
    # (In plain Python: most frames have a few blobs, and numpy's cost per call would be most of this.)
    rects = [cv2.boundingRect(contour) for contour in contours]
    parents = hierarchy[0][:, 3].tolist()
    longest = max(max(w, h) for _, _, w, h in rects)
    blobs = [i for i, ((_, _, w, h), up) in enumerate(zip(rects, parents))
             if up < 0 and h >= min_height and w * h >= min_area]
    # A frame's hole holds at least the smallest digit (three times the smallest blob); most frames have none.
    holes = [i for i, ((_, _, _, h), up) in enumerate(zip(rects, parents)) if up >= 0 and h >= 3 * min_height]
    if not holes:
        return Blobs([list(rects[i]) for i in blobs], [], longest)
    x, y, w, h = np.array(rects).T
    blob, hole = np.array(blobs, int)[:, None], np.array(holes)
    # A hole holds a blob when its box holds the blob's and the blob is not a speck in a digit's loop.
    holding = ((x[hole] <= x[blob]) & (y[hole] <= y[blob]) & (x[hole] + w[hole] >= x[blob] + w[blob])
               & (y[hole] + h[hole] >= y[blob] + h[blob]) & (h[blob] >= 0.3 * h[hole])).any(axis=0)
    # Or when it has two holes or more as high as nearly all of it: a comb's cells, or a box's with the digits
    # inside touching it (no digit has two such holes).
    tall = Counter(parents[i] for i in holes if rects[i][3] >= 0.6 * rects[parents[i]][3])
    frames = {parents[i] for i, held in zip(holes, holding) if held} | {up for up, count in tall.items() if count >= 2}
    # One row of cells (a box, a comb) is returned; a frame of many rows (a puzzle, a table) has lines long
    # enough for the ruled-line search, which cuts none of them into pieces.
    tallest: dict[int, int] = {}
    for i in holes:
        tallest[parents[i]] = max(tallest.get(parents[i], 0), rects[i][3])
    return Blobs([list(rects[i]) for i in blobs if i not in frames],
                 [list(rects[i]) for i in frames if tallest[i] >= 0.5 * rects[i][3]], longest)


def find_digits(frame: np.ndarray, options: DetectOptions = DetectOptions()) -> list[Candidate]:
    """Digit candidates of a frame; a wide blob yields itself and its split parts (same group). A page lying
    on a darker desk bounds the search and settles the ink's polarity (dark), and is read upright; a printed grid
    (a puzzle, a table) is read from the front, its lines taken out; the rest of the frame as it is. An image
    smaller or larger than a camera's frame is read resized (see CAMERA_SIDE)."""
    if min(frame.shape[:2]) < max(options.min_height, 16):  # no digit fits (nor the quarter-size paper estimate)
        return []
    side = max(frame.shape[:2])
    if CROP_SIDE <= side < CAMERA_SIDE or side > options.largest:
        return _resized(frame, options, _read_side(side, options))
    found = _found(frame, options)
    heights = [c.box[3] for c in found if c.whole] if side > CAMERA_SIDE else []
    tall = float(np.median(heights)) if heights else 0.0
    return _resized(frame, options, max(CAMERA_SIDE, int(side * DIGIT / tall))) if tall > TALL else found


def _read_side(side: int, options: DetectOptions) -> int:
    """The longer side (px) an image whose longer side is `side` is read at first."""
    return min(max(side, CAMERA_SIDE), options.largest) if side >= CROP_SIDE else side


def _found(frame: np.ndarray, options: DetectOptions) -> list[Candidate]:
    """find_digits' candidates of a frame at the size it is read."""
    gray = _gray(frame)
    half = _half(gray)
    view = View.of(_half(half))
    page = find_page(view) if options.pages else None
    grid = _grid(half, view) if options.grids and max(gray.shape) >= CROP_SIDE else None
    rest = gray  # what is read outside any grid
    if page is not None:  # the threshold and the polarity come from the page alone, not from the desk's texture
        options = replace(options, dark=True if options.dark is None else options.dark)
        rest, half = _paper_around(gray, page), None
    inside: list[Candidate] = []
    if grid is not None:
        # From the frame itself: a grid's shadowed corner may lie outside what was taken for the page.
        front, back = frontal(gray, grid)
        # Cells hold one digit each (a narrow blob is never two), far shorter than the grid's lines, which may be
        # thick (a puzzle's 3x3 lines); and no desk is in view (a digit beside a thick line must not seem to lie on a
        # page's edge).
        # Its lines lie nearly level and plumb there (up to the error of corners found at quarter size, and a
        # lens' bending): the turned search spans 15 degrees, not all of them.
        front_options = replace(options, line_thickness=max(front.shape) / 40, line_turn=15, pages=False,
                                faint_lines=True, line_pieces=True, narrow=options.wide)
        inside = _candidates(front, front_options, back=back)
        rest, half = _painted_over(rest, back), None
    if page is not None and abs(page.turn) >= UNTURNED and not page.others:  # (pages beside it: all as they lie)
        outside = _page_candidates(gray, rest, page, options)
    else:
        outside = _candidates(rest, options, half if options.scale == 0.5 else None)
        slant = writing_slant(outside) if page is None and grid is None else None
        if slant is not None:
            outside = _page_candidates(gray, rest, _whole_frame(gray.shape, slant), options)
    groups = 1 + max((c.group for c in inside), default=-1)
    for candidate in outside:
        candidate.group += groups
    return inside + outside


def writing_slant(candidates: list[Candidate]) -> float | None:
    """The turn (degrees, counter-clockwise as seen, up to 45) of the lines of writing in a frame: the median angle of
    the steps between blobs that stand three or more in a row, each close beside the next (a number's digits), when
    it is SLANTED or more and at least three steps agree on it; else None (writing turned with a page, no edge of
    which is in view)."""
    boxes = np.array([c.box for c in candidates if c.whole], np.float32).reshape(-1, 4)
    if len(boxes) < 3:
        return None
    # (By its longer side: a digit's box turned with its writing is as wide as high.)
    centres, sizes = boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:].max(axis=1)
    apart = centres[None] - centres[:, None]
    distance = np.hypot(apart[..., 0], apart[..., 1])
    larger, smaller = np.maximum(sizes[None], sizes[:, None]), np.minimum(sizes[None], sizes[:, None])
    # A number's digits stand closer than digits scattered over a page, three of which may line up by chance.
    close = (larger <= 1.5 * smaller) & (distance <= 1.5 * larger) & (distance > 0)
    middles = np.flatnonzero(close.sum(axis=1) >= 2).tolist()  # (the middle of a row has a neighbour either side)
    if not middles:  # (most frames: digits and words standing apart)
        return None
    angle = np.degrees(np.arctan2(-apart[..., 1], apart[..., 0])).tolist()
    steps = set()
    for j in middles:
        for i, k in itertools.combinations(np.flatnonzero(close[j]).tolist(), 2):
            if abs((angle[i][j] - angle[j][k] + 180) % 360 - 180) <= 12:  # i and k on either side of j, in line
                steps |= {(min(i, j), max(i, j)), (min(j, k), max(j, k))}
    angles = np.array([(angle[i][j] + 90) % 180 - 90 for i, j in steps])
    angles = angles[np.abs(angles) <= 45]  # (steeper: a column of digits, one under another)
    if len(angles) < 3:
        return None
    slant = float(np.median(angles))
    agreeing = np.abs(angles - slant) <= 15
    return slant if agreeing.sum() >= 3 and abs(slant) >= SLANTED else None


def _whole_frame(shape: tuple[int, ...], turn: float) -> Page:
    """The whole frame as a page turned by `turn` degrees (its outline in the quarter-size view's pixels)."""
    height, width = (side // 4 - 1 for side in shape[:2])
    return Page(np.array([[[0, 0]], [[width, 0]], [[width, height]], [[0, height]]], np.int32), turn)


def _resize(image: np.ndarray, longest: int) -> tuple[np.ndarray, float]:
    """The image shrunk or enlarged to `longest` px on its longer side, and by how much."""
    height, width = image.shape[:2]
    scale = longest / max(height, width)
    size = (min(longest, round(width * scale)), min(longest, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR), scale


def _resized(frame: np.ndarray, options: DetectOptions, longest: int) -> list[Candidate]:
    """The candidates of a frame, found on it resized to `longest` px, in its own pixels."""
    resized, scale = _resize(_gray(frame), longest)
    found = find_digits(resized, options)
    for candidate in found:
        candidate.box = tuple(round(v / scale) for v in candidate.box)
    return found


def _grid(half: np.ndarray, view: View) -> Grid | None:
    """A grid found on the frame at a quarter of its size (`view`; 16x fewer pixels: it costs a live frame ~0.1 ms),
    or where that fails, on the frame at half size shrunk again keeping each pixel's darkest neighbour (with
    `view`'s histogram: the page's contrast is the same, and a second histogram would cost every frame), and then
    at half size (a blurred thin line, seen from below, breaks in both)."""
    def darker() -> tuple[View, float]:
        return replace(view, soft=cv2.GaussianBlur(_half(cv2.erode(half, np.ones((3, 3), np.uint8))), (3, 3), 0)), 1.0

    def at_half() -> tuple[View, float]:
        return View.of(half), 2.0
    # (A camera's frame is not looked at closer for broken lines: every desk's or ruled page's frame would pay for it.)
    grid = find_grid(view, closer=(darker, at_half), thin=2 * max(half.shape) > CAMERA_SIDE)
    return None if grid is None else Grid(grid.corners * 4 + 1.5)


def find_frame_grid(frame: np.ndarray, options: DetectOptions = DetectOptions()) -> Grid | None:
    """The printed grid of a frame, in its pixels, as find_digits finds it (at the size it reads the frame first)."""
    if max(frame.shape[:2]) < CROP_SIDE:
        return None
    gray, scale = _resize(_gray(frame), _read_side(max(frame.shape[:2]), options))
    half = _half(gray)
    grid = _grid(half, View.of(_half(half)))
    return None if grid is None else replace(grid, corners=grid.corners / scale)


def _strong(ink: np.ndarray, share: float) -> np.ndarray:
    """1 where uint8 ink is at least `share` of its strongest (or of 1), else 0."""
    # (OpenCV keeps what lies above a whole number: ink >= v is ink > ceil(v) - 1. It does so 3x faster than numpy on
    # a frame's many small crops.)
    _, strong = cv2.threshold(ink, math.ceil(share * max(cv2.minMaxLoc(ink)[1], 1)) - 1, 1, cv2.THRESH_BINARY)
    return strong


def _inked_box(box: tuple[int, int, int, int], ink: np.ndarray, back: ToFrame | None = None
               ) -> tuple[int, int, int, int]:
    """The box of a candidate's ink at least INKED of its strongest (cut at any scale from `box`; in a front view
    that `back` maps to the frame, its pixels mapped, not its box's corners, whose box would grow with the
    grid's turn). The mask it was cut by stands a pixel or two beyond the strokes: a 4 px 1 got an 8 px box."""
    x, y, w, h = box
    strong = _strong(ink, INKED)
    left, top, width, height = cv2.boundingRect(strong)
    if width == 0:  # (no ink at all: the whole crop)
        strong[:], (left, top, width, height) = 1, (0, 0, ink.shape[1], ink.shape[0])
    across, down = w / ink.shape[1], h / ink.shape[0]  # frame pixels per crop pixel
    if back is None:
        x0, y0 = x + int(left * across), y + int(top * down)
        return x0, y0, x + math.ceil((left + width) * across) - x0, y + math.ceil((top + height) * down) - y0
    rows, columns = np.nonzero(strong)
    points = np.float32([x + (columns + 0.5) * across, y + (rows + 0.5) * down]).T[:, None]
    return tuple(int(v) for v in cv2.boundingRect(back(points)))


def _paint(gray: np.ndarray, region: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """The frame with `region` (its nonzero pixels) painted in the tone of the paper at `paper`'s."""
    painted = gray.copy()
    painted[region > 0] = paper_tone(gray, paper)
    return painted


def _painted_over(gray: np.ndarray, grid: ToFrame) -> np.ndarray:
    """The frame with a grid (the outline its front view's map gives, a little grown, so that no piece of its border
    is left) painted paper-white."""
    outline = grid.outline()
    centre = outline.mean(axis=0)
    inside = np.zeros_like(gray)
    cv2.fillPoly(inside, [(centre + (outline - centre) * 1.04).astype(np.int32)], 255)
    return _paint(gray, inside, inside)


def _in_frame(outline: np.ndarray) -> np.ndarray:
    """A page's outline, found in the frame's quarter-size view, in the frame's pixels (its 4x4 blocks' middles)."""
    return outline * 4 + 2


def _paper_around(gray: np.ndarray, page: Page) -> np.ndarray:
    """The frame with everything off the page and the pages beside it (each shrunk a little, past its edge) painted
    in their paper."""
    margin = max(9, min(gray.shape) // 30 | 1)
    on_page = np.zeros_like(gray)
    for outline in (page.outline, *page.others):
        # Where a page runs out of the frame its outline (found at quarter size, where vignetting darkens the
        # frame's sides) stops short of the side: taken to it, a digit the frame cuts still touches it (cut off).
        outline = _in_frame(outline)
        for axis, side in ((0, gray.shape[1]), (1, gray.shape[0])):
            points = outline[..., axis]
            points[points < margin] = 0
            points[points >= side - margin] = side - 1
        cv2.fillConvexPoly(on_page, outline, 255)
    # Past the edge: the outline was found at quarter size, and a curled page's edge is not straight.
    on_page = cv2.erode(on_page, _ellipse(margin))
    return _paint(gray, cv2.bitwise_not(on_page), on_page)


def _upright_page(gray: np.ndarray, page: Page) -> tuple[np.ndarray, ToFrame]:
    """The page (in a frame with what is off it painted paper) turned upright, cut to its outline; and the
    map of its points back to the frame."""
    turn = cv2.getRotationMatrix2D((gray.shape[1] / 2, gray.shape[0] / 2), -page.turn, 1.0)
    x, y, width, height = cv2.boundingRect(cv2.transform(_in_frame(page.outline).astype(np.float32), turn))
    turn[:, 2] -= (x, y)
    upright = cv2.warpAffine(gray, turn, (width, height), flags=cv2.INTER_LINEAR, borderValue=paper_tone(gray))
    return upright, ToFrame(np.vstack([cv2.invertAffineTransform(turn), [0, 0, 1]]), (height, width))


def _page_candidates(gray: np.ndarray, rest: np.ndarray, page: Page, options: DetectOptions) -> list[Candidate]:
    """The digit candidates of a turned page (`rest`: the frame with what is off it painted paper), read upright:
    a number written along its lines is cut apart there, between its digits, not across them."""
    upright, back = _upright_page(rest, page)
    found = _candidates(upright, options, back=back)
    # Cut off by the frame's sides, which lie turned in the upright page.
    cut_off = {c.group for c in found if c.whole and _cut_off(gray, c.box)}
    return [c for c in found if c.group not in cut_off]


def _candidates(gray: np.ndarray, options: DetectOptions, half: np.ndarray | None = None,
                back: ToFrame | None = None) -> list[Candidate]:
    """The digit candidates of a grayscale frame with no grid to take apart (`half`: it at half size, if made);
    of a view of part of a frame (a grid from the front, a page upright), their boxes mapped `back` to it."""
    inked = _blobs(gray, options, half)
    found: list[Candidate] = []  # their crops the ink as cut, normalized all at once at the end
    no_digit: list[int] = []  # blobs too short or too wide for a digit (letters of words, words run together)
    in_numbers: set[int] | None = None  # (made for the first narrow blob: most frames have none worth cutting)
    split = _ink_threshold(gray, 0.0) if options.line_pieces else 0.0  # (Otsu's, as the ink's is taken)
    for group, box in enumerate(inked.boxes):
        if box[3] / inked.scale > options.max_height_ratio * gray.shape[0]:
            continue
        if box[3] / inked.scale < options.min_height:
            no_digit.append(group)
            continue
        blob = _cut(gray, inked.ink, inked.mask, box, inked.scale)
        x, y, w, h = blob.box
        if too_wide(blob.box):
            no_digit.append(group)
            continue
        if cv2.countNonZero(blob.mask) < options.min_ink * blob.mask.size \
                or options.pages and (_cut_off(gray, blob.box) or w < 0.5 * h and _on_an_edge(gray, blob.box)) \
                or options.line_pieces and w < 0.5 * h and _line_piece(gray, blob.box, split, inked.ink.dark):
            continue
        sideways = 3 * w <= h and _sideways_word(gray, blob.box, inked)
        found.append(Candidate(blob.box, blob.ink, group, sideways=sideways))
        if w / h > options.wide:
            found += _apart(blob, group) + _parts(blob, group, min(4, int(w / h / 0.45)))
        elif w / h > options.narrow:
            in_numbers = _in_numbers(inked.boxes) if in_numbers is None else in_numbers
            found += _parts(blob, group, 2, narrow=True) if group in in_numbers else []
    for candidate in found:
        candidate.box = _inked_box(candidate.box, candidate.crop, back)
    for candidate, crop in zip(found, normalize_crops([c.crop for c in found])):
        candidate.crop = crop
    return found + (_letters(inked, no_digit, back) if options.letters else [])


def _letters(inked: Inked, groups: list[int], back: ToFrame | None) -> list[Candidate]:
    """Blobs no digit (see DetectOptions.letters) as candidates of no reading, their crops their masks, their boxes
    mapped `back` all at once (a page of dots holds thousands of them)."""
    boxes = np.float32([inked.boxes[group] for group in groups]).reshape(-1, 4) / inked.scale
    if back is not None and len(boxes):
        x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]
        corners = np.stack([x0, y0, x1, y0, x0, y1, x1, y1], axis=1).reshape(-1, 1, 2)
        corners = back(corners).reshape(-1, 4, 2)
        boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1) - corners.min(axis=1)], axis=1)
    letters = []
    for group, (x, y, w, h) in zip(groups, boxes.astype(int).tolist()):
        bx, by, bw, bh = inked.boxes[group]
        letters.append(Candidate((x, y, w, h), inked.mask[by:by + bh, bx:bx + bw], group, ()))
    return letters


def _line_piece(gray: np.ndarray, box: tuple[int, int, int, int], split: float, dark: bool) -> bool:
    """Whether a narrow blob is a piece of a line the line search left (a grid's thick line between two crossings,
    read as a sure 1): the ink down its columns and 3 px either side (beyond `split`, the view's Otsu threshold)
    runs on unbroken for LINE_PIECE times its height. (Most such pieces are a line's soft edge, 2 px wide, lighter
    than the line beside it.)"""
    x, y, w, h = box
    band = gray[:, max(0, x - 3):x + w + 3]
    inked = band.min(axis=1) < split if dark else band.max(axis=1) > split
    middle = y + h // 2
    gaps = np.flatnonzero(~inked)
    top, bottom = gaps[gaps < middle].max(initial=-1), gaps[gaps > middle].min(initial=len(inked))
    return bool(inked[middle]) and bottom - top - 1 >= LINE_PIECE * h


def _sideways_word(gray: np.ndarray, box: tuple[int, int, int, int], inked: Inked) -> bool:
    """Whether a long bar's rows cross two strokes (a letter's bowl, two stems) as a word's on its side do: SIDEWAYS of
    them or more, in two stretches or more (taken at full size, where a small word's strokes stand apart)."""
    x, y, w, h = box
    paper = float(inked.ink.paper[int((y + h / 2) * inked.scale), int((x + w / 2) * inked.scale)])
    strength = _against_paper(gray[y:y + h, x:x + w], paper, inked.ink.dark)
    # (A 1 px gap is noise.)
    strokes = cv2.morphologyEx(_strong(strength, 0.5), cv2.MORPH_CLOSE, np.ones((1, 2), np.uint8))
    starts = np.count_nonzero(np.diff(strokes, axis=1, prepend=0) == 1, axis=1)
    two = (starts >= 2).astype(np.int8)
    stretches = np.count_nonzero(np.diff(two, prepend=0) == 1)
    return stretches >= 2 and np.count_nonzero(two) >= SIDEWAYS * max(1, np.count_nonzero(starts))


def _in_numbers(boxes: list[list[int]]) -> set[int]:
    """The blobs (by index) standing beside another on their line, as a number's digits do: only they are read as
    two digits when narrow (a single digit cut in parts costs a frame 20 % more, to be read whole in the end)."""
    readings = [{"box": box, "index": k} for k, box in enumerate(boxes)]
    return {r["index"] for line in writing_lines(readings) if len(line) > 1 for r in line}


def _cut_off(gray: np.ndarray, box: tuple[int, int, int, int], margin: int = 1) -> bool:
    """Whether a blob touches a side of the frame: a digit cut there is no digit to read (what it is lies out
    of view), and a bar there is mostly a desk's pattern or an object cut off by the frame. (Boxes found at
    half size end on even pixels: `margin` 1 is the side's last pixel pair; 2 dropped whole digits near it.)"""
    x, y, w, h = box
    return min(x, y) <= margin or x + w >= gray.shape[1] - margin or y + h >= gray.shape[0] - margin


def _on_an_edge(gray: np.ndarray, box: tuple[int, int, int, int], contrast: float = 0.3) -> bool:
    """Whether a bar lies between two surfaces (a page's edge on a desk: a 1 to any reader) rather than on one
    paper: the strips beside it, left and right or above and below, differ by more than `contrast`."""
    x, y, w, h = box
    reach = max(2, h // 4)
    strips = [gray[y:y + h, max(0, x - reach):x], gray[y:y + h, x + w:x + w + reach],
              gray[max(0, y - reach):y, x:x + w], gray[y + h:y + h + reach, x:x + w]]
    # Medians: a printed line or a neighbour's stroke in a strip must not count as the other surface (taken by
    # partition: np.median costs 20x more on strips this small, 2 ms a frame of text).
    left, right, top, bottom = (float(np.partition(strip.ravel(), strip.size // 2)[strip.size // 2])
                                if strip.size else -1.0 for strip in strips)
    return any(min(a, b) >= 0 and abs(a - b) > contrast * max(a, b, 1.0) for a, b in ((left, right), (top, bottom)))


def choose_reading(candidates: list[Candidate], surest: Sequence[float], labels: Sequence[str] | None = None,
                   sure: float = 0.97) -> list[int]:
    """The candidates to report, in reading order: per blob, the reading (whole, or cut in parts one way) whose
    weakest digit the classifier is surest of (`surest`: each candidate's top score, `labels` its class), as
    _blob_reading tells. On a page of words (most readings, and at least 3, no digit) a blob read whole as no
    digit stays whole: a word's letters split apart read as digits (an m as 177, an n's stem as 7); elsewhere a
    narrow blob is read whole but where _split_beside reads it as two digits."""
    groups: dict[int, dict[tuple[int, int], list[int]]] = {}  # blob: its readings ((parts, way): the candidates)
    narrow: dict[int, dict[tuple[int, int], list[int]]] = {}  # the same, of narrow blobs' parts
    for i, c in enumerate(candidates):
        for reading in c.readings:
            (narrow if c.narrow else groups).setdefault(c.group, {}).setdefault(reading, []).append(i)
    for members in (m for options in groups.values() for m in options.values()):
        members.sort(key=lambda i: candidates[i].box[0])  # (left to right: see _blob_reading)
    chosen = {group: _blob_reading(options, surest, labels, sure, False) for group, options in groups.items()}
    if labels is not None:
        if page_of_words([labels[i] for group, reading in chosen.items() for i in groups[group][reading]]):
            chosen.update({group: (1, 0) for group, options in groups.items()
                           if (1, 0) in options and labels[options[1, 0][0]] == NOT_A_DIGIT})
        else:
            chosen = {group: _blob_reading(options, surest, labels, sure, True) for group, options in groups.items()}
            for group, reading in _split_beside(candidates, groups, chosen, narrow, surest, labels, sure).items():
                groups[group][reading], chosen[group] = narrow[group][reading], reading
    picked = [i for group, reading in chosen.items() for i in groups[group][reading]]
    boxes = [candidates[i].box for i in picked]
    return [i for _, i in sorted(zip(((y // max(1, h), x) for x, y, _, h in boxes), picked))]


def _split_beside(candidates: list[Candidate], groups: dict[int, dict[tuple[int, int], list[int]]],
                  chosen: dict[int, tuple[int, int]], narrow: dict[int, dict[tuple[int, int], list[int]]],
                  surest: Sequence[float], labels: Sequence[str], sure: float) -> dict[int, tuple[int, int]]:
    """The narrow blobs read whole as no digit, or as a digit less than `sure`, that are two digits written against
    each other (a 1 against a 9): their surest two sure parts, not both 1s, where the blob stands beside a sure digit
    other than a 1. (Alone, a narrow blob's parts read as sure digits too often: a 4's stem as a 1 beside it, a V as
    11; and a sure digit's stroke cut off reads as a sure 1 beside it as often as a 1 written against it.)"""
    anchors = [{"box": candidates[i].box} for group, reading in chosen.items() for i in groups[group][reading]
               if labels[i] not in (NOT_A_DIGIT, "1") and surest[i] >= sure]
    split = {}
    for group, readings in narrow.items():
        whole = groups[group][1, 0][0]
        two = {reading: min(surest[i] for i in members) for reading, members in readings.items()
               if len(members) == 2 and min(surest[i] for i in members) >= sure
               and NOT_A_DIGIT not in (labels[i] for i in members) and any(labels[i] != "1" for i in members)}
        blob = {"box": candidates[whole].box}
        unsure = labels[whole] == NOT_A_DIGIT or surest[whole] < sure
        if two and unsure and any(beside(anchor, blob, GAP) for anchor in anchors):
            split[group] = max(two, key=lambda reading: (two[reading], -reading[1]))
    return split


def _blob_reading(options: dict[tuple[int, int], list[int]], surest: Sequence[float], labels: Sequence[str] | None,
                  sure: float, among_numbers: bool) -> tuple[int, int]:
    """The reading (whole, or one cutting in parts) of one blob whose weakest part is surest. A blob read whole as
    no digit is read split when its parts are digits, each at least `sure` but one at most, which is likely (as
    with_neighbours reads a number), neither all 1s nor three of them (a serif m's stems, a condensed "KaV" as 1611),
    nor a sure 1 and a weak digit cut from its right (a letter's stem and the rest of it: an n as 12, a W as 14): the
    "not a digit" class learnt merged digits, and touching digits that split into sure ones are a number more often
    than a word. `among_numbers` (no page of words): then a split that leaves a part no digit gives way to such a
    split too (an 8 and a 9 run together read N beside a 3)."""
    # (A 1 written against a digit reads so too, the digit weakened by the 1's sliver: tuning footage, seeds 1-8, lost
    # 4 of ~4,500 digits on ruled blue pages and 6 of ~4,600 among numbers, while distractors' false digits fell
    # 181 -> 149 in 240 frames and text-only's 21 -> 13 in 800.)
    if len(options) == 1:  # (a blob read only whole, as 9 in 10 are: nothing to weigh)
        return next(iter(options))

    def digits(members: list[int]) -> bool:  # (members left to right)
        weak = [i for i in members if surest[i] < sure]
        ones = sum(labels[i] == "1" for i in members)
        return all(labels[i] != NOT_A_DIGIT for i in members) and len(weak) <= 1 and all(
            likely(labels[i], surest[i]) or labels[i] == "1" and surest[i] >= CUT_ONE for i in weak) and ones < min(
            3, len(members)) and not (len(members) == 2 and labels[members[0]] == "1" and weak == members[1:])
    # (A reading missing a part it was cut into is none.) Cut at valleys, a blob has many readings: one would read
    # a scribble surer than whole by chance, so they stand only as digits.
    confidence = {reading: min(surest[i] for i in members) for reading, members in options.items()
                  if len(members) == reading[0] and (reading[1] == 0 or labels is None or digits(members))}
    if labels is not None and any(reading[0] > 1 and digits(options[reading]) for reading in confidence):
        unread = [reading for reading in confidence if any(labels[i] == NOT_A_DIGIT for i in options[reading])]
        for reading in unread if among_numbers else [reading for reading in unread if reading[0] == 1]:
            del confidence[reading]
    if labels is not None:
        for reading in _one_less(options, list(confidence), surest, labels, sure):
            del confidence[reading]
    # Of two readings as sure, the one of fewer parts, then the one cut where less ink was.
    return max(confidence, key=lambda reading: (confidence[reading], -reading[0], -reading[1]))


def _one_less(options: dict[tuple[int, int], list[int]], readings: list[tuple[int, int]],
              surest: Sequence[float], labels: Sequence[str], sure: float) -> set[tuple[int, int]]:
    """The readings of a blob that another reads with a 1 more, all its parts sure: a 1 written against a digit,
    whose stroke hardly changes how the digit reads with it (41 read whole as 4, 189 cut in two as 8 9)."""
    counts = {reading: Counter(labels[i] for i in options[reading]) for reading in readings}
    more = [reading for reading in readings if reading[0] > 1 and min(surest[i] for i in options[reading]) >= sure]
    return {reading for reading in readings for other in more
            if other[0] == reading[0] + 1 and counts[other] == counts[reading] + Counter("1")}


def digit_crop(image: np.ndarray, options: DetectOptions = DetectOptions()) -> np.ndarray | None:
    """The one digit of an image of any size and polarity, normalized exactly as live crops are: the image is
    scaled to 160 px and set on a margin of its own border colour, then its ink found as in find_digits."""
    gray = _gray(image)
    border = int(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
    scale = 160 / max(gray.shape)  # strokes come out about as thick as the background kernel expects
    scaled = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    margin = max(scaled.shape) // 2
    padded = cv2.copyMakeBorder(scaled, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=border)
    # The border is paper, so the ink is whichever extreme lies farther from it; and with no page there is
    # no ruled line to take out.
    dark = int(border) - int(gray.min()) >= int(gray.max()) - int(border)
    inked = _blobs(padded, replace(options, line_length=2.0, scale=1.0, dark=dark))
    boxes = inked.boxes
    if not boxes:
        return None
    # One digit per image: all its pieces belong to it (a 5's detached flag, a 4's open top).
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return normalize_crop(_cut(padded, inked.ink, inked.mask, [x0, y0, x1 - x0, y1 - y0], 1.0).ink)
