"""What footage shows: named conditions of scene, layout, paper, ink, light and camera, and its truth."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    paper: str = "plain"  # plain | ruled | squared
    ink: str = "dark"  # dark | faint (blue ballpoint or pencil) | blue | mixed (black, blue, red, pencil)
    light: str = "even"  # even (a gentle ramp) | dim | shadow
    blur: str = "none"  # none | focus | motion
    numbers: bool = False  # multi-digit numbers, some digits touching
    printed: float = 0.0  # share of printed digits
    perspective: bool = False
    distractors: bool = False  # letters and scribbles beside the digits, which must not be read as digits
    scene: str = "page"  # page: the page fills the frame | desk: a page lying on a desk, its edges in view
    layout: str = "free"  # free: digits anywhere | grid: a 9x9 puzzle | form: boxed and comb fields
    text: bool = False  # words and a heading around the digits
    digits: bool = True  # False: a scene with no digit at all
    shake: bool = False  # a shaking hand: more jitter, a little rotation, some motion blur
    camera: bool = False  # a real camera's white balance and vignetting
    curl: bool = False  # the page curled (a newspaper's, a book's): its lines bowed
    heights: tuple[int, int] | None = None  # digit heights (px) this condition calls for, else the options'


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
    # Scenes as a camera sees them: a page on a desk, printed grids and forms, coloured ink, no digits at all.
    "desk": Condition(scene="desk", camera=True),
    "desk_ruled_blue": Condition(scene="desk", paper="ruled", ink="blue", light="dim", numbers=True, shake=True,
                                 camera=True, heights=(15, 40)),
    "grid": Condition(layout="grid", printed=0.6, camera=True),
    "grid_desk": Condition(scene="desk", layout="grid", printed=0.6, camera=True),
    "grid_curled": Condition(layout="grid", printed=0.6, camera=True, curl=True),
    "form": Condition(layout="form", text=True, ink="mixed", camera=True),
    "text": Condition(text=True, ink="mixed", printed=0.3, camera=True),
    "blank_page": Condition(digits=False),
    "blank_desk": Condition(scene="desk", digits=False, camera=True),
    "text_only": Condition(text=True, digits=False, camera=True),
}
HARD = ("ruled", "numbers", "faint", "dim", "motion_blur")  # the first live issue's hard conditions, F1 goal 0.85
# Scenes as a camera sees them.
WORLD = ("desk", "desk_ruled_blue", "grid", "grid_desk", "grid_curled", "form", "text")
BLANK = ("blank_page", "blank_desk", "text_only")  # nothing may be read here


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
