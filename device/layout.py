"""The layout of a frame: a page lying on a darker desk, and printed grids (puzzles, tables) as four corners."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

AGREEING = 0.7  # share of a page's edges' length that must agree on its turn
DIM = 90  # a page's tone below which its contrast floors are lowered (see dimmed)
# Share of a grid's lines' hull its four corners hold, below which the grid is looked for again closer (find_grid):
# where its border broke up, the hull lacks a corner of the grid and the four corners cut across its cells.
WHOLE_OUTLINE = 0.93
OTHER_PAGE = 0.02  # share of the image a page beside the largest covers at least (a sticky note beside a page)
BOW_STEP = 4  # px between the points along a grid's side where its bow is measured
LEAST_BOW = 0.01  # share of a front view's longer side a side must bow by to be straightened (a lens' bend, a curl)


@dataclass(frozen=True)
class Grid:
    corners: np.ndarray  # 4x2 float32: top-left, top-right, bottom-right, bottom-left, in frame pixels
    rows: int = 9
    columns: int = 9

    def cell(self, x: float, y: float) -> tuple[int, int] | None:
        """The (row, column) holding a frame point, or None outside the grid."""
        square = np.float32([[0, 0], [1, 0], [1, 1], [0, 1]])
        u, v = cv2.perspectiveTransform(np.float32([[[x, y]]]),
                                        cv2.getPerspectiveTransform(self.corners, square))[0, 0]
        if not (0 <= u < 1 and 0 <= v < 1):
            return None
        return int(v * self.rows), int(u * self.columns)


def _ordered(points: np.ndarray) -> np.ndarray:
    """Four points as top-left, top-right, bottom-right, bottom-left."""
    points = points.reshape(4, 2).astype(np.float32)
    total, difference = points.sum(axis=1), np.diff(points, axis=1).ravel()
    return np.float32([points[total.argmin()], points[difference.argmin()], points[total.argmax()],
                       points[difference.argmax()]])


@dataclass(frozen=True)
class View:
    """A small, softened copy of a frame and its histogram: what the page and grid searches both read."""
    soft: np.ndarray
    below: np.ndarray  # per value 0..255, how many pixels are that bright or darker
    summed: np.ndarray  # and the sum of their values

    @classmethod
    def of(cls, small: np.ndarray) -> "View":
        soft = cv2.GaussianBlur(small, (3, 3), 0)
        histogram = cv2.calcHist([soft], [0], None, [256], [0, 256]).ravel().astype(np.int64)
        return cls(soft, np.cumsum(histogram), np.cumsum(histogram * np.arange(256)))

    def percentile(self, share: float) -> int:
        return int(np.searchsorted(self.below, share * self.below[-1]))

    def count(self, low: int, high: int) -> int:
        """How many pixels are from `low` to `high` (inclusive)."""
        return int(self.below[high] - (self.below[low - 1] if low else 0))

    def mean(self, low: int, high: int) -> float:
        """The mean of the pixels from `low` to `high` (inclusive)."""
        total = self.summed[high] - (self.summed[low - 1] if low else 0)
        return float(total / max(1, self.count(low, high)))


def _meeting(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray | None:
    """Where the line through a and b meets the line through c and d (None if they are parallel)."""
    r, s = b - a, d - c
    cross = r[0] * s[1] - r[1] * s[0]
    if abs(cross) < 1e-6:
        return None
    return a + r * ((c - a)[0] * s[1] - (c - a)[1] * s[0]) / cross


def _corners(hull: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The corners of an outline; a corner the frame cuts off is found beyond the frame (up to the frame's size),
    where the two sides the frame cuts meet (a grid seen close: taken at the frame's edge, its front view came out
    turned)."""
    coarse = cv2.approxPolyDP(hull, 0.04 * cv2.arcLength(hull, True), True).astype(np.float32)
    height, width = shape[:2]
    fine = cv2.approxPolyDP(hull, 0.01 * cv2.arcLength(hull, True), True).reshape(-1, 2).astype(np.float32)
    on_side = _by_sides(fine, width, height, 1).any(axis=0).tolist()
    count = len(fine)
    cut = _along_border(fine, width, height, 1).tolist()  # the edge from vertex i runs along a side
    # Only cut edges apart from each other, and no other vertex on a side (an outline running off the frame
    # past a corner of it has no side to meet).
    if not any(cut) or any(cut[i] and (cut[i - 1] or cut[(i + 1) % count]) for i in range(count)) \
            or any(on_side[i] and not (cut[i] or cut[i - 1]) for i in range(count)):
        return coarse
    corners = []
    for i in range(count):
        if cut[i - 1]:
            continue  # the second end of a cut edge
        if not cut[i]:
            corners.append(fine[i])
            continue
        meeting = _meeting(fine[i - 1], fine[i], fine[(i + 2) % count], fine[(i + 1) % count])
        # (Sides nearly parallel, a ruled page's lines, meet far off: the frame enlarged 2x, its grid's corners
        # collapsed into a line and its front view into nothing.)
        if meeting is None or not (-width <= meeting[0] <= 2 * width and -height <= meeting[1] <= 2 * height):
            return coarse
        corners.append(meeting)
    return np.float32(corners).reshape(-1, 1, 2) if len(corners) == 4 else coarse


def find_grid(view: View, min_area: float = 0.1, max_fill: float = 0.5,
              closer: Sequence[Callable[[], tuple[View, float]]] = (), thin: bool = False) -> Grid | None:
    """The largest four-cornered outline of dark lines covering at least `min_area` of the image (a puzzle's
    or a table's border), or None. Lines are thin: an outline whose inside is mostly dark (a desk around a
    page, a shadow) is not a grid. Where large outlines are seen but none is a grid, or the grid's outline is
    short of its lines, it is looked for again in the `closer` looks in turn (a view, and its pixels to one of
    `view`'s; past the first, only where an outline was found, or in a photo larger than a camera's frame (`thin`)
    one wholly inside the view), the fullest outline kept: a thin line averaged into the shrunk image's pixels fades
    and breaks the grid's outline (a puzzle photographed askew). With `thin`, lines broken into pieces at the view's
    size are looked for closer too, in every look."""
    seen, found = _outlined(view, min_area, max_fill)
    pieces = thin and not seen and _in_pieces(view, min_area)
    for k, look in enumerate(closer if seen or pieces else ()):
        anew = found is None and k > 0 and not pieces  # (past the first look, with no outline to complete)
        if (found is not None and found[0] >= WHOLE_OUTLINE) or (anew and not thin):
            break
        other, scale = look()
        _, again = _outlined(other, min_area, max_fill)
        # At half size a ruled page's lines outline one with the frame's sides; a blurred puzzle's border, broken at
        # a quarter of a photo's size, closes there inside it (sud_wicht_image1006.jpg blurred: 0 of 24 read).
        if again is not None and (found is None or again[0] > found[0]) and not (anew and _on_border(again[1], other)):
            found = (again[0], Grid(again[1].corners / scale))
    return None if found is None else found[1]


def _on_border(grid: Grid, view: View) -> bool:
    """Whether a grid's corner lies on a view's border (or beyond it)."""
    height, width = view.soft.shape
    return bool(np.any(_by_sides(grid.corners, width, height, 1)))


def _dark_lines(view: View) -> np.ndarray:
    """A view's dark lines, binary. Lines are the darkest thing on the page; a soft shadow beside a grid is not: it
    must not join the outline."""
    block = max(3, min(view.soft.shape) // 16 | 1)
    low, high = view.percentile(0.05), view.percentile(0.95)
    return cv2.adaptiveThreshold(view.soft, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block,
                                 max(dimmed(7.0, high), 0.15 * (high - low)))


def _in_pieces(view: View, min_area: float) -> bool:
    """Whether a grid whose lines broke into pieces at the view's size is seen: at least three pieces a quarter of
    its smaller side long that together span `min_area` of it (a thin-lined puzzle in a 768x576 photo)."""
    contours, _ = cv2.findContours(_dark_lines(view), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    pieces = [contour for contour in contours if max(cv2.boundingRect(contour)[2:]) >= min(view.soft.shape) / 4]
    return len(pieces) >= 3 and cv2.contourArea(cv2.convexHull(np.concatenate(pieces))) >= min_area * view.soft.size


def _outlined(view: View, min_area: float, max_fill: float) -> tuple[bool, tuple[float, Grid] | None]:
    """Whether a large outline is seen in a view, and find_grid's grid in it with the share of its lines' hull
    that its four corners hold."""
    gray = view.soft
    binary = _dark_lines(view)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    frame_area = gray.shape[0] * gray.shape[1]
    # A grid whose thin border breaks up at this size leaves its lines one long blob, outlining no area but
    # spanning it.
    longest = max(contours, key=len, default=None)
    seen = longest is not None and cv2.contourArea(cv2.convexHull(longest)) >= min_area * frame_area
    for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:3]:
        area = cv2.contourArea(contour)
        if area < min_area * frame_area:
            break
        seen = True
        hull = cv2.convexHull(contour)
        outline = _corners(hull, gray.shape)
        if len(outline) != 4 or not cv2.isContourConvex(outline):
            continue
        corners = _ordered(outline)  # (taken in order, corners met beyond the frame can lie on one line)
        if cv2.contourArea(corners) < min_area * frame_area:
            continue
        inside = np.zeros_like(binary)
        cv2.fillConvexPoly(inside, outline.astype(np.int32), 255)
        if cv2.countNonZero(cv2.bitwise_and(binary, inside)) < max_fill * cv2.countNonZero(inside):
            return seen, (cv2.contourArea(outline) / max(cv2.contourArea(hull), 1.0), Grid(corners))
    return seen, None


def dimmed(floor: float, tone: float) -> float:
    """A contrast floor set for a lit page, lowered in proportion on a page of `tone` below DIM: its ink and
    paper both dim, and its noise too (a photo darkened to 0.4x: puzzles' printed ink 20-40 below the paper)."""
    return floor * min(1.0, tone / DIM)


def paper_tone(gray: np.ndarray, where: np.ndarray | None = None) -> int:
    """The paper's tone in a frame (or at `where`'s nonzero pixels): the 75th percentile, brighter than the ink
    among it, of every 4th pixel of every 4th row (the same tone, 16x cheaper: a frame's percentile cost 1.5 ms)."""
    sample = (gray[::4, ::4] if where is None else gray[::4, ::4][where[::4, ::4] > 0]).ravel()
    return _rank(sample if sample.size else gray.ravel(), 0.75)


def frontal(gray: np.ndarray, grid: Grid, least: int = 540, most: int = 1000) -> tuple[np.ndarray, ToFrame]:
    """The grid seen from the front, in its own proportions (a puzzle square, a comb of boxes long), as large as
    it is in the frame but its longer side at least `least` px (a 9x9 puzzle's digits then stand 30 px or more)
    and at most `most`, its sides straightened where they bow; and the map of its points back to the frame."""
    top_left, top_right, bottom_right, bottom_left = grid.corners
    width = (np.linalg.norm(top_right - top_left) + np.linalg.norm(bottom_right - bottom_left)) / 2
    height = (np.linalg.norm(bottom_left - top_left) + np.linalg.norm(bottom_right - top_right)) / 2
    scale = np.clip(max(width, height), least, most) / max(width, height, 1.0)
    width, height = max(2, int(width * scale)), max(2, int(height * scale))
    front = np.float32([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])
    back = cv2.getPerspectiveTransform(front, grid.corners)
    # Seen with a margin around it, where a side bowed outwards lies. What lies beyond the frame there (a grid seen
    # close, a corner cut off) is paper.
    margin = min(width, height) // 12
    outer = cv2.perspectiveTransform((front + np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * margin)[:, None], back)
    beyond = (outer < 0).any() or (outer > [gray.shape[1] - 1, gray.shape[0] - 1]).any()
    wide = cv2.warpPerspective(gray, cv2.getPerspectiveTransform(grid.corners, front + margin),
                               (width + 2 * margin, height + 2 * margin), borderMode=cv2.BORDER_CONSTANT,
                               borderValue=paper_tone(gray) if beyond else 0)
    bows = _bows(wide, margin)
    to_frame = ToFrame(back, (height, width), None if bows is None else bows.shifts(width, height))
    return to_frame.straightened(wide, margin), to_frame


@dataclass(frozen=True)
class Bows:
    """How far a grid's sides bow into its front view (a lens bends its lines, a page curls), px, at every BOW_STEP
    px along the top, bottom, left and right side; its four corners are where they were found."""
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray

    def shifts(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """How far right and down of each pixel of a straightened front view of this size its source lies in the
        bowed one (float32): each side's bow blended across the view (a Coons patch)."""
        def along(bow: np.ndarray, count: int) -> np.ndarray:
            return np.interp(np.linspace(0, 1, count), np.linspace(0, 1, len(bow)), bow).astype(np.float32)
        # At every BOW_STEP px, then enlarged: the shifts are smooth (the whole view's cost 2 ms).
        columns, rows = width // BOW_STEP + 1, height // BOW_STEP + 1
        u, v = np.linspace(0, 1, columns, dtype=np.float32), np.linspace(0, 1, rows, dtype=np.float32)[:, None]
        right = (1 - u) * along(self.left, rows)[:, None] - u * along(self.right, rows)[:, None]
        down = (1 - v) * along(self.top, columns) - v * along(self.bottom, columns)
        return cv2.resize(right, (width, height)), cv2.resize(down, (width, height))


@dataclass(frozen=True)
class ToFrame:
    """The map of a view made of part of a frame (a grid from the front, straightened; a page upright) back to it."""
    homography: np.ndarray
    size: tuple[int, int]  # the view's (height, width)
    shifts: tuple[np.ndarray, np.ndarray] | None = None  # a straightened view's Bows.shifts

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Points (N, 1, 2 float32) of the view in the frame."""
        if self.shifts is not None:
            height, width = self.size
            column = np.clip(np.rint(points[..., 0]), 0, width - 1).astype(np.intp)
            row = np.clip(np.rint(points[..., 1]), 0, height - 1).astype(np.intp)
            points = points + np.stack([shift[row, column] for shift in self.shifts], axis=-1)
        return cv2.perspectiveTransform(points, self.homography)

    def straightened(self, wide: np.ndarray, margin: int) -> np.ndarray:
        """The front view, from a view of it with `margin` px around, its bowed sides (and lines near them) made
        straight."""
        height, width = self.size
        if self.shifts is None:
            return np.ascontiguousarray(wide[margin:margin + height, margin:margin + width])
        right, down = self.shifts
        return cv2.remap(wide, right + np.arange(margin, width + margin, dtype=np.float32),
                         down + np.arange(margin, height + margin, dtype=np.float32)[:, None], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)

    def outline(self) -> np.ndarray:
        """The view's outline in the frame (N, 1, 2 float32): its corners, and where its sides bow, 15 points
        between each two."""
        height, width = self.size
        corners = np.float32([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])
        steps = np.linspace(0, 1, 2 if self.shifts is None else 17, dtype=np.float32)[:-1, None]
        points = [start + (end - start) * steps for start, end in zip(corners, np.roll(corners, -1, axis=0))]
        return self(np.concatenate(points)[:, None])


def _edge(side: np.ndarray) -> np.ndarray:
    """The outer edge of the dark line along the top of `side` (a band of a front view), its row at every BOW_STEP
    px along (NaN where none): beyond it lies paper, and inside it digits darker than a thin line may stand close."""
    soft = cv2.GaussianBlur(np.ascontiguousarray(side[:, ::BOW_STEP]), (1, 5), 0)
    dark = soft < (int(soft.min()) + cv2.mean(soft)[0]) / 2  # (the band is mostly paper)
    rows = dark.argmax(axis=0)
    # Dark from the band's outer row on: not a line in it (a desk, the frame's side beyond a grid seen close).
    return np.where(rows > 0, rows, np.nan)


def _bowed(edge: np.ndarray, least: float) -> bool:
    """Whether an edge's middle fifth lies at least `least` px off the line between its end fifths (a quick look)."""
    fifth = max(1, len(edge) // 5)
    parts = np.sort(edge[:5 * fifth].reshape(5, fifth)[::2], axis=1)  # (NaN sorts last)
    seen = np.count_nonzero(~np.isnan(parts), axis=1)
    start, middle, end = np.where(seen > 0, parts[np.arange(3), seen // 2], np.nan)  # their medians, about
    return bool(abs(middle - (start + end) / 2) >= least)  # (NaN, where a fifth has no line, is no bow)


def _bow(edge: np.ndarray, corner: int) -> np.ndarray | None:
    """How far an edge bows down from the straight line between its ends (a cubic through it, its strays left out),
    or None where it is not one line from corner to corner (at row `corner`, give or take half that): too little
    of it seen or kept, a long gap in it, or an end held by no point of it (a cubic's swing past the last ones; a
    page's edge across a grid's cut-off corner)."""
    at = np.linspace(0, 1, len(edge))
    kept = ~np.isnan(edge)
    if _longest_gap(kept) > 0.08 * len(edge):  # (the sides of bowed puzzles seen: up to 4 %)
        return None
    powers = np.vander(at, 4)  # (a cubic's least squares without polyfit's scaling and checks: 2x cheaper)
    for tolerance in (8, 5, 3):
        if kept.mean() < 0.7:
            return None
        fit = powers @ np.linalg.lstsq(powers[kept], edge[kept], rcond=None)[0]
        kept &= np.abs(fit - np.nan_to_num(edge)) < tolerance
    tenth = max(1, len(edge) // 10)
    if max(abs(fit[0] - corner), abs(fit[-1] - corner)) > corner / 2 or kept[:tenth].mean() < 0.5 \
            or kept[-tenth:].mean() < 0.5:
        return None
    return fit - (fit[0] * (1 - at) + fit[-1] * at)


def _longest_gap(seen: np.ndarray) -> int:
    """The longest run of False in a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[True], seen, [True]]).astype(np.int8)))
    return int(np.max(edges[1::2] - edges[::2], initial=0))


def _bows(wide: np.ndarray, margin: int) -> Bows | None:
    """The Bows of a front view seen with `margin` px around (its sides traced within the margin either side of
    them: a 9x9 grid's next line lies a ninth in), or None where they lie straight (or two across are not seen)."""
    if margin < 2:
        return None
    height, width = wide.shape[0] - 2 * margin, wide.shape[1] - 2 * margin
    least = LEAST_BOW * max(height, width)
    edges = [_edge(side[:2 * margin, margin:-margin]) for side in (wide, wide[::-1], wide.T, wide.T[::-1])]
    bowed = [_bowed(edge, least / 2) for edge in edges]
    if not any(bowed):
        return None
    # A side the quick look finds straight is taken so (no fit: text beside a puzzle photo's grid bows none).
    sides = [_bow(edge, margin) if bent else np.zeros(2) for edge, bent in zip(edges, bowed)]
    if (sides[0] is None and sides[1] is None) or (sides[2] is None and sides[3] is None):
        return None
    # A side not seen (cut off by the frame) bows as the side across from it does: inwards as much, as a lens bends
    # it, where the other two sides seen bow too; the same way, as a page curls, where they lie straight; else (a
    # lens and a curl at once) it is taken as straight.
    seen = list(sides)
    for side in (side for side, bow in enumerate(seen) if bow is None):
        others = [np.abs(seen[other]).max() for other in ((2, 3) if side < 2 else (0, 1)) if seen[other] is not None]
        lens, curl = others and min(others) >= least / 2 and max(others) >= least, others and max(others) < least / 2
        sides[side] = seen[side ^ 1] if lens else -seen[side ^ 1] if curl else np.zeros(2)
    if all(np.abs(bow).max() < least for bow in sides):
        return None
    return Bows(*sides)


@dataclass(frozen=True)
class Page:
    outline: np.ndarray  # convex polygon (N, 1, 2) int32 in the pixels of the image it was found in
    turn: float = 0.0  # degrees by which its edges lie turned from level (counter-clockwise as seen), -45..45
    others: tuple[np.ndarray, ...] = ()  # outlines of smaller pages beside it (a second sticky note), as `outline`


def _turn(outline: np.ndarray, shape: tuple[int, ...]) -> float:
    """How far an outline's edges are turned from level or plumb, by length (edges along the image's border,
    where the frame cuts the page, say nothing of it)."""
    points = outline.reshape(-1, 2).astype(np.float32)
    edges = np.roll(points, -1, axis=0) - points
    height, width = shape[:2]
    # On four times the angle, edges a right angle apart agree.
    angles = 4 * np.arctan2(-edges[:, 1], edges[:, 0])
    length = np.hypot(*edges.T) * ~_along_border(points, width, height, 1)
    along = np.float64([(length * np.cos(angles)).sum(), (length * np.sin(angles)).sum()])
    # Edges that do not agree on an angle (a bright region no sheet's shape) have no turn to undo.
    if np.hypot(*along) < AGREEING * max(length.sum(), 1e-6):
        return 0.0
    return float(np.degrees(np.arctan2(along[1], along[0])) / 4)


def _along_border(points: np.ndarray, width: int, height: int, margin: float) -> np.ndarray:
    """Which edges of a closed outline (each point to the next) run along the image's border, both ends within
    `margin` px of one side: where the frame cuts a page, not the page's own edge."""
    return np.any([side & np.roll(side, -1) for side in _by_sides(points, width, height, margin)], axis=0)


def _by_sides(points: np.ndarray, width: int, height: int, margin: float) -> np.ndarray:
    """Which points lie within `margin` px of the image's left, top, right and bottom sides (or beyond them)."""
    x, y = points.T
    return np.array([x <= margin, y <= margin, x >= width - 1 - margin, y >= height - 1 - margin])


def _outline(region: np.ndarray) -> np.ndarray:
    """The convex hull of a region's pixels."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return cv2.convexHull(np.concatenate(contours))


def find_page(view: View, min_area: float = 0.08, max_area: float = 0.95, contrast: float = 0.6) -> Page | None:
    """The page, when its edge is in view: the largest bright region (with what thick lines cut off it),
    covering between `min_area` and `max_area` of the image, beside surroundings darker than `contrast` times its
    own brightness, with a corner of its own inside the image (a shadow across a page has its edge from border
    to border, and no corner); and the pages beside it that are such too (a second sticky note), from
    OTHER_PAGE of the image."""
    soft = view.soft
    split, _ = cv2.threshold(soft, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    split = int(split)
    # Most frames show no desk: too little is dark, or it is not much darker than the paper. Both are cheap to see.
    if view.count(split + 1, 255) > max_area * soft.size:
        return None
    paper = view.mean(split + 1, 255)
    if view.mean(0, split) > contrast * paper:
        return None
    # Halfway between Otsu's split and the paper: a desk's highlights stay below, paper above; and highlights
    # of a textured desk that touch the page here and there are cut off by an opening.
    _, bright = cv2.threshold(soft, (split + paper) / 2, 255, cv2.THRESH_BINARY)
    bright = cv2.morphologyEx(bright, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, 8)
    if count < 2:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    if not min_area <= areas.max() / soft.size <= max_area:
        return None
    hull, taken = _largest_page(bright, labels, areas)
    if not _a_page(soft, hull):
        return None
    others = [_outline(labels == i) for i in 1 + np.flatnonzero(areas >= OTHER_PAGE * soft.size) if i not in taken]
    return Page(hull, _turn(hull, soft.shape), tuple(outline for outline in others if _a_page(soft, outline)))


def _largest_page(bright: np.ndarray, labels: np.ndarray, areas: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The outline of the largest bright region and the labels of the regions it takes in. A puzzle's thick lines
    cut a page's bright region into parts: the page is all the large ones together (a tenth of the largest or
    more), when what they outline is still mostly bright (paper, not desk) and what is dark there is lines, no
    wider than 7 px at this size (not the desk between two pages)."""
    largest = 1 + int(np.argmax(areas))
    parts = 1 + np.flatnonzero(areas >= 0.1 * areas.max())
    if len(parts) > 1:
        whole = _outline(np.isin(labels, parts))
        inside = np.zeros_like(bright)
        cv2.fillConvexPoly(inside, whole, 255)
        dark = cv2.erode(cv2.subtract(inside, bright), np.ones((7, 7), np.uint8))
        if cv2.countNonZero(cv2.bitwise_and(bright, inside)) >= 0.7 * cv2.countNonZero(inside) \
                and cv2.countNonZero(dark) < 0.08 * cv2.countNonZero(inside):
            return whole, list(parts)
    return _outline(labels == largest), [largest]


def _a_page(soft: np.ndarray, outline: np.ndarray) -> bool:
    """Whether a bright region's outline is a page's: a corner of its own inside the image (or just beyond it), and
    a step down to the desk across it."""
    corners = cv2.approxPolyDP(outline, 0.02 * cv2.arcLength(outline, True), True).reshape(-1, 2)
    height, width = soft.shape
    away = 0.04 * min(width, height)
    inner = [(x, y) for x, y in corners if away < x < width - 1 - away and away < y < height - 1 - away]
    return (bool(inner) or _corner_beyond(corners, width, height, away)) and _stepped(soft, outline)


def _corner_beyond(corners: np.ndarray, width: int, height: int, away: float) -> bool:
    """Whether two edges of an outline (its `corners`) that run inside the image, each a quarter of its smaller side
    long, stand 60-120 degrees apart: a page's sides meeting just beyond the frame (a shadow's edge is one line).
    Its desk was read where the page filled the frame but for its corners (11 false 1s in 480 blank desk frames)."""
    points = corners.astype(np.float64)
    edges = (np.roll(points, -1, axis=0) - points)[~_along_border(points, width, height, away)]
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    long = lengths >= 0.25 * min(width, height)
    sides = edges[long] / lengths[long, None]
    return bool((np.abs(sides @ sides.T) <= 0.5).any())  # (cosines: 60-120 degrees apart)


def _stepped(soft: np.ndarray, outline: np.ndarray) -> bool:
    """Whether the brightness steps down across an outline, as from a page to the desk: a third of a band just
    outside it (away from the frame's sides) lies below 0.85 of the paper just inside. A webcam's vignetting
    makes a bright middle that fades into the same paper (a photo's digits beyond it were painted out)."""
    region = np.zeros_like(soft)
    cv2.fillConvexPoly(region, outline, 255)
    band = np.ones((5, 5), np.uint8)
    inside = cv2.subtract(region, cv2.erode(region, band))[2:-2, 2:-2]
    outside = cv2.subtract(cv2.dilate(region, band), region)[2:-2, 2:-2]
    beyond, within = soft[2:-2, 2:-2][outside > 0], soft[2:-2, 2:-2][inside > 0]
    if not beyond.size or not within.size:
        return True  # the page fills the frame to its sides
    return _rank(beyond, 1 / 3) < 0.85 * _rank(within, 0.5)


def _rank(values: np.ndarray, share: float) -> int:
    """The value at `share` of the way through the sorted values (a partition: np.percentile costs ~60 us)."""
    rank = round(share * (values.size - 1))
    return int(np.partition(values, rank)[rank])
