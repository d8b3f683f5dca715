"""Ground truth files, and scoring what a run read against them."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgedigits import EdgeDigitsError
from edgedigits.footage.conditions import TruthDigit


def truth_path(video: Path) -> Path:
    return Path(video).with_suffix(".truth.json")


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


class Cells(Protocol):
    def cell(self, x: float, y: float) -> tuple[int, int] | None: ...


def cell_score(read: list[dict], truth: list[list[int]], grid: Cells) -> Score:
    """A puzzle's true digits (`truth`: its cells, 0 where empty) against what was read in each cell of the grid
    found (its surest digit there); a digit outside the grid counts for nothing here."""
    cells: dict[tuple[int, int], dict] = {}
    for digit in read:
        x, y, w, h = digit["box"]
        cell = grid.cell(x + w / 2, y + h / 2)
        if cell is not None and digit.get("score", 1) >= cells.get(cell, {}).get("score", -1):
            cells[cell] = digit
    score = Score(truth=sum(1 for row in truth for d in row if d), found=len(cells))
    for (row, column), digit in cells.items():
        true = truth[row][column]
        score.correct += digit["label"] == str(true)
        score.wrong_label += bool(true) and digit["label"] != str(true)
        score.false_positives += not true
    score.missed = score.truth - score.correct - score.wrong_label
    return score
