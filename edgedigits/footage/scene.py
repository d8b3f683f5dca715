"""Filming a page: paper, ink, light, a desk around the page, a camera's lens, sensor and codec, and a hand
that holds it; frames come with the boxes and labels of the digits they show."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgedigits import EdgeDigitsError
from edgedigits.data import Split
from edgedigits.footage import layouts
from edgedigits.footage.conditions import CONDITIONS, Condition, FootageOptions, TruthDigit
from edgedigits.footage.glyphs import Glyph
from edgedigits.footage.score import truth_path
from edgedigits.images import curl_drop, curled, shake_kernel
from edgedigits.manifest import atomic_path, write_atomic


@dataclass
class _Scene:
    page: np.ndarray  # float32 BGR, digits already drawn
    glyphs: list[Glyph]
    warp: np.ndarray  # 3x3 homography of the page into the frame
    light: np.ndarray  # per-pixel brightness factor of the frame
    noise: float
    points: list[np.ndarray] = field(default_factory=list)  # ink points of each glyph, page coordinates
    desk: np.ndarray | None = None  # float32 BGR frame behind the page, for a page lying on a desk
    camera: np.ndarray | None = None  # per-pixel, per-channel gain: white balance and vignetting


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


_INKS = {
    "blue": lambda rng: (np.float32([rng.uniform(140, 200), rng.uniform(50, 100), rng.uniform(10, 50)]),
                         rng.uniform(0.75, 0.95)),
    "red": lambda rng: (np.float32([rng.uniform(30, 70), rng.uniform(30, 70), rng.uniform(150, 210)]),
                        rng.uniform(0.8, 1.0)),
    "pencil": lambda rng: (np.float32([rng.uniform(90, 140)] * 3), rng.uniform(0.6, 0.85)),
    "dark": lambda rng: (np.float32(rng.uniform(15, 70, size=3)), 1.0),
}


def _ink(rng: np.random.Generator, condition: Condition) -> tuple[np.ndarray, float]:
    """Ink colour (BGR) and how densely it covers a stroke."""
    if condition.ink in ("blue", "red", "pencil"):
        return _INKS[condition.ink](rng)
    if condition.ink == "faint":
        if rng.random() < 0.5:
            return np.float32([rng.uniform(150, 190), rng.uniform(70, 110), rng.uniform(20, 60)]), rng.uniform(0.7, 0.9)
        grey = rng.uniform(100, 140)  # pencil
        return np.float32([grey, grey, grey]), rng.uniform(0.6, 0.85)
    return _INKS["dark"](rng)


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


def _mixed_ink(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Black, blue or red ballpoint, or pencil, for a whole page."""
    return _INKS[("dark", "blue", "red", "pencil")[int(rng.integers(4))]](rng)


def _desk(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A desk filling the frame: dark or light wood grain, dark leather or a patterned cloth, with an object (a
    phone, a pen) at its edge."""
    ys, xs = np.mgrid[:height, :width].astype(np.float32)
    kind = int(rng.integers(3))
    if kind == 0:  # wood: grain along one direction, knots of noise
        angle = rng.uniform(0, np.pi)
        along = np.cos(angle) * xs + np.sin(angle) * ys
        grain = np.sin(along / rng.uniform(3, 9) + 3 * np.sin(along / rng.uniform(40, 90)))
        base = np.float32([rng.uniform(20, 70), rng.uniform(50, 110), rng.uniform(90, 170)])  # brown, BGR
        desk = base * (1 + 0.15 * grain)[..., None]
    elif kind == 1:  # leather or dark plastic: fine blurred noise
        texture = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 1.5)
        desk = np.float32([rng.uniform(20, 60)] * 3) * (1 + 0.35 * texture)[..., None]
    else:  # a patterned cloth: soft checks
        size = rng.uniform(14, 40)
        checks = (np.sin(xs / size * np.pi) * np.sin(ys / size * np.pi) > 0).astype(np.float32)
        colour = np.float32(rng.uniform(40, 150, size=3))
        desk = colour * (0.75 + 0.35 * cv2.GaussianBlur(checks, (0, 0), 2))[..., None]
    thing = np.zeros((height, width), np.uint8)  # a phone or a pen lying at the frame's edge
    centre = (float(rng.choice([rng.uniform(0, 0.12), rng.uniform(0.88, 1)]) * width), rng.uniform(0, height))
    size = (rng.uniform(30, 90), rng.uniform(120, 260)) if rng.random() < 0.5 else (rng.uniform(8, 14), rng.uniform(120, 220))
    cv2.fillConvexPoly(thing, cv2.boxPoints((centre, size, rng.uniform(0, 180))).astype(np.int32), 255)
    desk[thing > 0] = np.float32(rng.uniform(10, 60, size=3))
    return np.clip(desk, 0, 255).astype(np.float32)


def _on_desk(rng: np.random.Generator, page_size: tuple[int, int], width: int, height: int) -> np.ndarray:
    """A page lying on a desk: turned up to 25 degrees, seen a little from the side, its edges in view and now
    and then partly out of the frame."""
    pw, ph = page_size
    corners = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]]) - [pw / 2, ph / 2]
    angle = np.radians(rng.uniform(-25, 25))
    rotation = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    scale = rng.uniform(0.8, 1.0) * min(width / pw, height / ph)
    centre = np.float32([width / 2 + rng.uniform(-0.12, 0.12) * width, height / 2 + rng.uniform(-0.12, 0.12) * height])
    moved = corners @ rotation.T * scale + centre
    moved += rng.uniform(-0.04, 0.04, moved.shape) * [width, height]
    return cv2.getPerspectiveTransform(np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]]), moved.astype(np.float32))


def _camera(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A real camera's colour cast (white balance off by up to 15 % a channel) and vignetting."""
    ys, xs = np.mgrid[:height, :width].astype(np.float32)
    radius = ((xs - width / 2) ** 2 + (ys - height / 2) ** 2) / ((width / 2) ** 2 + (height / 2) ** 2)
    vignette = 1 - rng.uniform(0.1, 0.35) * radius
    return vignette[..., None] * np.float32(rng.uniform(0.85, 1.15, size=3))


def _layout(test: Split, rng: np.random.Generator, condition: Condition, options: FootageOptions,
            width: int, height: int) -> layouts.Layout:
    if condition.layout == "grid":
        return layouts.grid(test, rng, condition, width, height)
    if condition.layout == "form":
        return layouts.form(test, rng, condition, width, height)
    count = int(rng.integers(options.digits[0], options.digits[1] + 1))
    heights = condition.heights or options.heights
    # Many digits on one page leave room only for smaller ones.
    tallest = min(heights[1], int(height / (1.6 * np.sqrt(max(1, count)))))
    return layouts.free(test, rng, condition, count, (heights[0], max(heights[0], tallest)), width, height)


def _scene(test: Split, rng: np.random.Generator, options: FootageOptions) -> _Scene:
    condition = CONDITIONS[options.condition]
    width, height = options.size
    # A page on a desk is a sheet of its own size, seen whole or nearly; otherwise the page fills the frame.
    page_w, page_h = (int(width * 0.9), int(width * 0.9 / 1.3)) if condition.scene == "desk" else (width, height)
    layout = _layout(test, rng, condition, options, page_w, page_h)
    page = _paper(rng, condition, page_w, page_h)
    for start, end, weight in layout.lines:  # printed grid and form lines, near black
        cv2.line(page, start, end, (40.0, 40.0, 40.0), weight, cv2.LINE_AA)
    colour, density = _mixed_ink(rng) if condition.ink == "mixed" else _ink(rng, condition)
    points = []
    for glyph in layout.glyphs:
        h, w = glyph.alpha.shape
        h, w = min(h, page_h - glyph.y), min(w, page_w - glyph.x)
        alpha = (glyph.alpha[:h, :w] * density)[..., None]
        region = page[glyph.y:glyph.y + h, glyph.x:glyph.x + w]
        region[:] = region * (1 - alpha) + colour * alpha
        rows, cols = np.nonzero(glyph.alpha[:h, :w] > 0.3)
        points.append(np.float32(np.stack([cols + glyph.x, rows + glyph.y], axis=1)))
    if condition.curl:  # its middle up to 5 % of its height lower or higher than its sides
        depth = rng.choice([-1, 1]) * rng.uniform(0.02, 0.05) * page_h
        page = curled(page, depth)
        points = [p + np.float32(np.stack([np.zeros(len(p)), curl_drop(p[:, 0], page_w, depth)], axis=1))
                  for p in points]
    if condition.scene == "desk":
        warp = _on_desk(rng, (page_w, page_h), width, height)
    else:
        warp = _perspective(rng, width, height, 0.07) if condition.perspective else np.eye(3, dtype=np.float32)
    light, noise = _light(rng, condition, width, height)
    desk = _desk(rng, width, height) if condition.scene == "desk" else None
    camera = _camera(rng, width, height) if condition.camera else None
    return _Scene(page, layout.glyphs, warp, light, noise, points, desk, camera)


def _motion_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    length, angle = int(rng.integers(5, 10)), rng.uniform(0, 180)
    return cv2.filter2D(image, -1, shake_kernel(length, angle))


def _hand(rng: np.random.Generator, condition: Condition, width: int, height: int) -> np.ndarray:
    """This frame's jitter of the camera: a few pixels, more and turning a little for a shaking hand."""
    if not condition.shake:
        return np.float32([[1, 0, rng.integers(-4, 5)], [0, 1, rng.integers(-4, 5)], [0, 0, 1]])
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-2, 2), 1.0)
    turn[:, 2] += rng.integers(-8, 9, 2)
    return np.vstack([turn, [0, 0, 1]]).astype(np.float32)


def _frame(scene: _Scene, rng: np.random.Generator, options: FootageOptions) -> tuple[np.ndarray, list[TruthDigit]]:
    condition = CONDITIONS[options.condition]
    width, height = options.size
    warp = _hand(rng, condition, width, height) @ scene.warp
    if scene.desk is None:
        image = cv2.warpPerspective(scene.page, warp, (width, height), borderMode=cv2.BORDER_REPLICATE)
    else:
        image = cv2.warpPerspective(scene.page, warp, (width, height), borderValue=(0, 0, 0))
        on_page = cv2.warpPerspective(np.ones(scene.page.shape[:2], np.float32), warp, (width, height))[..., None]
        image = image + scene.desk * (1 - on_page)
    image *= scene.light[..., None]
    if scene.camera is not None:
        image *= scene.camera
    if condition.blur == "focus":
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(1.2, 2.0))
    elif condition.blur == "motion" or (condition.shake and rng.random() < 0.4):
        image = _motion_blur(image, rng)
    else:
        image = cv2.GaussianBlur(image, (3, 3), rng.uniform(0.3, 0.8))  # a slightly soft lens
    image += rng.normal(0, scene.noise, image.shape).astype(np.float32)
    frame = np.clip(image, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 80))])  # codec artefacts
    frame = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    truth = []
    for glyph, points in zip(scene.glyphs, scene.points):
        if not glyph.label or not len(points):
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
