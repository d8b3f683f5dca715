"""Test footage the project makes itself: handwritten (MNIST test) and printed digits on paper, filmed
under named conditions, with ground-truth boxes, and a scorer for what `edgedigits run` read from it."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgedigits import EdgeDigitsError
from edgedigits.data import Split
from edgedigits.manifest import atomic_path, write_atomic


@dataclass(frozen=True)
class Condition:
    paper: str = "plain"  # plain | ruled | squared
    ink: str = "dark"  # dark | faint (blue ballpoint or pencil)
    light: str = "even"  # even (a gentle ramp) | dim | shadow
    blur: str = "none"  # none | focus | motion
    numbers: bool = False  # multi-digit numbers, some digits touching
    printed: float = 0.0  # share of printed-font digits
    perspective: bool = False
    distractors: bool = False  # letters and scribbles beside the digits, which must not be read as digits


CONDITIONS = {
    "plain": Condition(),
    "ruled": Condition(paper="ruled"),
    "squared": Condition(paper="squared"),
    "numbers": Condition(numbers=True),
    "printed": Condition(printed=0.6),
    "faint": Condition(ink="faint"),
    "dim": Condition(light="dim"),
    "shadow": Condition(light="shadow"),
    "perspective": Condition(perspective=True),
    "focus_blur": Condition(blur="focus"),
    "motion_blur": Condition(blur="motion"),
    "distractors": Condition(distractors=True),
}
HARD = ("ruled", "numbers", "faint", "dim", "motion_blur")  # the hard conditions, F1 goal 0.85
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)
LETTERS = "ACEFHKMNRTUVWXYaehkmnrwx"  # no O/I/l/S/Z/B/G/q/b: those are written like digits


@dataclass(frozen=True)
class FootageOptions:
    condition: str = "plain"
    frames: int = 60
    frames_per_scene: int = 10  # a hand-held camera: the page stays, the view jitters
    digits: tuple[int, int] = (4, 16)  # per frame, inclusive
    heights: tuple[int, int] = (18, 110)  # px of a digit's ink
    size: tuple[int, int] = (640, 480)
    fps: int = 10
    seed: int = 0


@dataclass(frozen=True)
class TruthDigit:
    box: tuple[int, int, int, int]
    label: str


@dataclass
class _Glyph:
    alpha: np.ndarray  # ink coverage 0..1, tight around the ink
    label: str  # "" for a distractor: drawn, but not a digit
    x: int = 0
    y: int = 0


@dataclass
class _Scene:
    page: np.ndarray  # float32 BGR, digits already drawn
    glyphs: list[_Glyph]
    warp: np.ndarray  # 3x3 homography of the page into the frame
    light: np.ndarray  # per-pixel brightness factor of the frame
    noise: float
    points: list[np.ndarray] = field(default_factory=list)  # ink points of each glyph, page coordinates


def truth_path(video: Path) -> Path:
    return Path(video).with_suffix(".truth.json")


def _handwritten(test: Split, rng: np.random.Generator, height: int) -> _Glyph:
    index = int(rng.integers(len(test)))
    alpha = test.images[index].astype(np.float32) / 255
    rows, cols = np.nonzero(alpha > 0.1)
    alpha = alpha[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = height / alpha.shape[0]
    size = (max(1, round(alpha.shape[1] * scale)), height)
    return _Glyph(cv2.resize(alpha, size, interpolation=cv2.INTER_CUBIC).clip(0, 1), str(test.labels[index]))


def _tight(canvas: np.ndarray, height: int, label: str) -> _Glyph:
    rows, cols = np.nonzero(canvas > 25)
    alpha = canvas[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.float32) / 255
    size = (max(1, round(alpha.shape[1] * height / alpha.shape[0])), height)
    return _Glyph(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA).clip(0, 1), label)


def _printed(rng: np.random.Generator, height: int, text: str | None = None) -> _Glyph:
    label = str(int(rng.integers(10))) if text is None else text
    font = (*FONTS, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)[int(rng.integers(len(FONTS) + (text is not None)))]
    canvas = np.zeros((200, 220), np.uint8)
    cv2.putText(canvas, label, (20, 160), font, 4.0, 255, int(rng.integers(6, 12)), cv2.LINE_AA)
    return _tight(canvas, height, "" if text is not None else label)


def _distractor(rng: np.random.Generator, height: int) -> _Glyph:
    """A letter, or a scribble: a smooth random stroke like a crossed-out word or a doodle."""
    if rng.random() < 0.6:
        return _printed(rng, height, LETTERS[int(rng.integers(len(LETTERS)))])
    canvas = np.zeros((200, 200), np.uint8)
    points = np.cumsum(rng.normal(0, 30, (int(rng.integers(4, 9)), 2)), axis=0)
    points = (points - points.min(axis=0)) / max(1.0, np.ptp(points)) * 150 + 25
    curve = cv2.resize(points.astype(np.float32)[None], (60, 1), interpolation=cv2.INTER_LINEAR)[0]
    cv2.polylines(canvas, [curve.astype(np.int32)], False, 255, int(rng.integers(8, 14)), cv2.LINE_AA)
    return _tight(canvas, height, "")


def _items(test: Split, rng: np.random.Generator, condition: Condition, count: int, heights: tuple[int, int]):
    """Groups of glyphs written side by side: single digits, or numbers of 2-4 digits."""
    items, left = [], count
    while left > 0:
        height = int(rng.integers(heights[0], heights[1] + 1))
        length = min(left, int(rng.integers(2, 5))) if condition.numbers and rng.random() < 0.7 else 1
        if condition.distractors and rng.random() < 0.4:
            items.append(([_distractor(rng, height)], []))
            continue
        glyphs = [_printed(rng, height) if rng.random() < condition.printed else _handwritten(test, rng, height)
                  for _ in range(length)]
        gaps = [int(rng.integers(-max(1, height // 12), max(2, height // 4))) for _ in range(length - 1)]
        items.append((glyphs, gaps))
        left -= length
    return items


def _place(items, rng: np.random.Generator, width: int, height: int) -> list[_Glyph]:
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


def _paper(rng: np.random.Generator, condition: Condition, width: int, height: int) -> np.ndarray:
    ys, xs = np.mgrid[:height, :width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    base = rng.uniform(195, 240) + rng.uniform(8, 25) * (ramp - ramp.mean())
    paper = np.clip(base[..., None] * np.float32(rng.uniform(0.93, 1.0, size=3)), 0, 255)
    line_colour = np.float32([rng.uniform(190, 230), rng.uniform(150, 190), rng.uniform(110, 150)])  # blue-grey
    if condition.paper == "ruled":
        spacing, offset = int(rng.integers(26, 40)), int(rng.integers(0, 20))
        for y in range(offset, height, spacing):
            cv2.line(paper, (0, y), (width, y), line_colour.tolist(), int(rng.integers(1, 3)), cv2.LINE_AA)
        margin_x = int(rng.integers(40, 90))
        cv2.line(paper, (margin_x, 0), (margin_x, height), (120, 120, 220), 2, cv2.LINE_AA)  # red margin
    elif condition.paper == "squared":
        spacing = int(rng.integers(18, 30))
        for v in range(int(rng.integers(0, spacing)), max(width, height), spacing):
            cv2.line(paper, (v, 0), (v, height), line_colour.tolist(), 1, cv2.LINE_AA)
            cv2.line(paper, (0, v), (width, v), line_colour.tolist(), 1, cv2.LINE_AA)
    return paper


def _ink(rng: np.random.Generator, condition: Condition) -> tuple[np.ndarray, float]:
    """Ink colour (BGR) and how densely it covers a stroke."""
    if condition.ink == "faint":
        if rng.random() < 0.5:
            return np.float32([rng.uniform(150, 190), rng.uniform(70, 110), rng.uniform(20, 60)]), rng.uniform(0.7, 0.9)
        grey = rng.uniform(100, 140)  # pencil
        return np.float32([grey, grey, grey]), rng.uniform(0.6, 0.85)
    return np.float32(rng.uniform(15, 70, size=3)), 1.0


def _light(rng: np.random.Generator, condition: Condition, width: int, height: int) -> tuple[np.ndarray, float]:
    """Brightness factor per pixel and the sensor noise that comes with it."""
    light = np.ones((height, width), np.float32)
    if condition.light == "dim":
        return light * rng.uniform(0.3, 0.45), rng.uniform(5, 8)
    if condition.light == "shadow":  # a hand or phone casting a soft-edged shadow over part of the page
        ys, xs = np.mgrid[:height, :width].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        distance = np.cos(angle) * (xs - width / 2) + np.sin(angle) * (ys - height / 2) - rng.uniform(-80, 80)
        light *= 1 - rng.uniform(0.35, 0.55) * (1 / (1 + np.exp(-distance / rng.uniform(8, 30))))
    return light, rng.uniform(2, 4)


def _perspective(rng: np.random.Generator, width: int, height: int, strength: float) -> np.ndarray:
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    moved = (corners + rng.uniform(-strength, strength, corners.shape) * [width, height]).astype(np.float32)
    return cv2.getPerspectiveTransform(corners, moved)


def _scene(test: Split, rng: np.random.Generator, options: FootageOptions) -> _Scene:
    condition = CONDITIONS[options.condition]
    width, height = options.size
    count = int(rng.integers(options.digits[0], options.digits[1] + 1))
    # Many digits on one page leave room only for smaller ones.
    tallest = min(options.heights[1], int(height / (1.6 * np.sqrt(count))))
    glyphs = _place(_items(test, rng, condition, count, (options.heights[0], max(options.heights[0], tallest))),
                    rng, width, height)
    page = _paper(rng, condition, width, height)
    colour, density = _ink(rng, condition)
    points = []
    for glyph in glyphs:
        h, w = glyph.alpha.shape
        alpha = (glyph.alpha * density)[..., None]
        region = page[glyph.y:glyph.y + h, glyph.x:glyph.x + w]
        region[:] = region * (1 - alpha) + colour * alpha
        rows, cols = np.nonzero(glyph.alpha > 0.3)
        points.append(np.float32(np.stack([cols + glyph.x, rows + glyph.y], axis=1)))
    warp = _perspective(rng, width, height, 0.07) if condition.perspective else np.eye(3, dtype=np.float32)
    light, noise = _light(rng, condition, width, height)
    return _Scene(page, glyphs, warp, light, noise, points)


def _frame(scene: _Scene, rng: np.random.Generator, options: FootageOptions) -> tuple[np.ndarray, list[TruthDigit]]:
    condition = CONDITIONS[options.condition]
    width, height = options.size
    jitter = np.float32([[1, 0, rng.integers(-4, 5)], [0, 1, rng.integers(-4, 5)], [0, 0, 1]])
    warp = jitter @ scene.warp
    image = cv2.warpPerspective(scene.page, warp, (width, height), borderMode=cv2.BORDER_REPLICATE)
    image *= scene.light[..., None]
    if condition.blur == "focus":
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(1.2, 2.0))
    elif condition.blur == "motion":
        length, angle = int(rng.integers(5, 10)), rng.uniform(0, 180)
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2] = 1
        kernel = cv2.warpAffine(kernel, cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1),
                                (length, length))
        image = cv2.filter2D(image, -1, kernel / kernel.sum())
    else:
        image = cv2.GaussianBlur(image, (3, 3), rng.uniform(0.3, 0.8))  # a slightly soft lens
    image += rng.normal(0, scene.noise, image.shape).astype(np.float32)
    frame = np.clip(image, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 80))])  # codec artefacts
    frame = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    truth = []
    for glyph, points in zip(scene.glyphs, scene.points):
        if not glyph.label:
            continue
        moved = cv2.perspectiveTransform(points[None], warp)[0]
        x0, y0 = np.floor(moved.min(axis=0)).astype(int)
        x1, y1 = np.ceil(moved.max(axis=0)).astype(int)
        if x0 >= 0 and y0 >= 0 and x1 < width and y1 < height:
            truth.append(TruthDigit((int(x0), int(y0), int(x1 - x0 + 1), int(y1 - y0 + 1)), glyph.label))
    return frame, truth


def render_frames(test: Split, options: FootageOptions):
    """Yield (frame, truth) pairs of the footage, deterministic for a seed."""
    if options.condition not in CONDITIONS:
        raise EdgeDigitsError(f"unknown condition {options.condition!r}; choose from {', '.join(CONDITIONS)}")
    rng = np.random.default_rng(options.seed)
    scene = None
    for index in range(options.frames):
        if index % options.frames_per_scene == 0:
            scene = _scene(test, rng, options)
        yield _frame(scene, rng, options)


def render_video(path: Path, test: Split, options: FootageOptions = FootageOptions()) -> list[list[TruthDigit]]:
    """Write an MP4 of the footage and its ground truth beside it (<name>.truth.json)."""
    truth = []
    with atomic_path(Path(path)) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), options.fps, options.size)
        if not writer.isOpened():
            raise EdgeDigitsError(f"{path}: OpenCV cannot write MP4 video here")
        for frame, digits in render_frames(test, options):
            writer.write(frame)
            truth.append(digits)
        writer.release()
    write_atomic(truth_path(path), json.dumps([[asdict(d) for d in frame] for frame in truth]) + "\n")
    return truth


def load_truth(path: Path) -> list[list[TruthDigit]]:
    try:
        return [[TruthDigit(tuple(d["box"]), d["label"]) for d in frame] for frame in json.loads(Path(path).read_text())]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgeDigitsError(f"{path}: not a ground-truth file ({type(exc).__name__})") from None


@dataclass
class Score:
    truth: int = 0  # digits in the footage
    found: int = 0  # digits reported
    correct: int = 0  # matched a true digit and read its label right
    wrong_label: int = 0  # matched a true digit, other label
    missed: int = 0
    false_positives: int = 0  # reported where no digit is

    @property
    def recall(self) -> float:
        return self.correct / self.truth if self.truth else 0.0

    @property
    def precision(self) -> float:
        return self.correct / self.found if self.found else 0.0

    @property
    def f1(self) -> float:
        total = self.recall + self.precision
        return 2 * self.recall * self.precision / total if total else 0.0

    def summary(self) -> str:
        return (f"read {self.correct}/{self.truth} digits correctly (recall {self.recall:.1%}, precision "
                f"{self.precision:.1%}, F1 {self.f1:.3f}; {self.wrong_label} wrong labels, {self.missed} missed, "
                f"{self.false_positives} false detections)")


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def score_frame(found: list[dict], truth: list[TruthDigit], score: Score, min_iou: float = 0.5) -> None:
    """Match one frame's reported digits (dicts with box, label) to its truth greedily by IoU."""
    pairs = sorted(((iou(tuple(f["box"]), t.box), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)),
                   reverse=True)
    used_found, used_truth = set(), set()
    for overlap, i, j in pairs:
        if overlap < min_iou or i in used_found or j in used_truth:
            continue
        used_found.add(i)
        used_truth.add(j)
        if found[i]["label"] == truth[j].label:
            score.correct += 1
        else:
            score.wrong_label += 1
    score.truth += len(truth)
    score.found += len(found)
    score.missed += len(truth) - len(used_truth)
    score.false_positives += len(found) - len(used_found)
