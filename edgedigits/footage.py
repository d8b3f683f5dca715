"""Test footage the project makes itself: MNIST test digits as dark ink on paper, with ground truth,
and a scorer for what `edgedigits run` read from it."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from edgedigits import EdgeDigitsError
from edgedigits.data import Split
from edgedigits.manifest import atomic_path, write_atomic


@dataclass(frozen=True)
class FootageOptions:
    frames: int = 60
    frames_per_scene: int = 10  # a hand-held camera: the page stays, the view jitters
    digits_per_frame: int = 8
    size: tuple[int, int] = (640, 480)
    fps: int = 10
    min_height: int = 40
    max_height: int = 100
    seed: int = 0


@dataclass(frozen=True)
class TruthDigit:
    box: tuple[int, int, int, int]
    label: str


def truth_path(video: Path) -> Path:
    return Path(video).with_suffix(".truth.json")


def _paper(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Paper lit unevenly: a brightness ramp in a random direction."""
    ys, xs = np.mgrid[:height, :width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / width + np.sin(angle) * ys / height)
    base = rng.uniform(190, 235) + rng.uniform(10, 30) * (ramp - ramp.mean())
    tint = np.float32(rng.uniform(0.94, 1.0, size=3))
    return np.clip(base[..., None] * tint, 0, 255)


def _scene(test: Split, rng: np.random.Generator, options: FootageOptions):
    """A page: paper, ink colour, and each digit's alpha mask, position and label."""
    width, height = options.size
    cols = int(np.ceil(np.sqrt(options.digits_per_frame * width / height)))
    rows = int(np.ceil(options.digits_per_frame / cols))
    cell_w, cell_h = width // cols, height // rows
    cells = rng.choice(cols * rows, options.digits_per_frame, replace=False)
    digits = []
    for cell, index in zip(cells, rng.choice(len(test), options.digits_per_frame, replace=False)):
        tall = int(rng.integers(options.min_height, min(options.max_height, int(cell_h * 0.8)) + 1))
        side = int(round(tall * 28 / 20))  # MNIST ink fills 20 of the 28 px
        alpha = cv2.resize(test.images[index].astype(np.float32) / 255, (side, side),
                           interpolation=cv2.INTER_CUBIC).clip(0, 1)
        row, col = divmod(int(cell), cols)
        x = col * cell_w + int(rng.integers(0, max(1, cell_w - side)))
        y = row * cell_h + int(rng.integers(0, max(1, cell_h - side)))
        digits.append((alpha, x, y, str(test.labels[index])))
    ink = np.float32(rng.uniform(15, 70, size=3))
    return _paper(rng, width, height), ink, digits


def _frame(scene, rng: np.random.Generator, options: FootageOptions) -> tuple[np.ndarray, list[TruthDigit]]:
    paper, ink, digits = scene
    width, height = options.size
    image = paper.copy()
    dx, dy = (int(v) for v in rng.integers(-4, 5, size=2))  # the hand-held jitter
    truth = []
    for alpha, x, y, label in digits:
        x, y = int(np.clip(x + dx, 0, width - alpha.shape[1])), int(np.clip(y + dy, 0, height - alpha.shape[0]))
        region = image[y:y + alpha.shape[0], x:x + alpha.shape[1]]
        region[:] = region * (1 - alpha[..., None]) + ink * alpha[..., None]
        rows, cols = np.nonzero(alpha > 0.25)
        truth.append(TruthDigit((x + int(cols.min()), y + int(rows.min()),
                                 int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)), label))
    image += rng.normal(0, 3, image.shape).astype(np.float32)  # sensor noise
    image = cv2.GaussianBlur(image, (3, 3), rng.uniform(0.3, 0.9))  # a slightly soft lens
    return np.clip(image, 0, 255).astype(np.uint8), truth


def render_video(path: Path, test: Split, options: FootageOptions = FootageOptions()) -> list[list[TruthDigit]]:
    """Write an MP4 of digit scenes and its ground truth beside it (<name>.truth.json)."""
    rng = np.random.default_rng(options.seed)
    truth = []
    with atomic_path(Path(path)) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), options.fps, options.size)
        if not writer.isOpened():
            raise EdgeDigitsError(f"{path}: OpenCV cannot write MP4 video here")
        scene = None
        for index in range(options.frames):
            if index % options.frames_per_scene == 0:
                scene = _scene(test, rng, options)
            frame, digits = _frame(scene, rng, options)
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
