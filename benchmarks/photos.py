"""Real photographs, the final judge of the live reader: ../shared/photos (phone and webcam photos of puzzle
grids, handwritten numbers, a note on a desk) and OpenCV's own samples/data/sudoku.png, read by edgedigits and by
OpenCV's digits_video.py sample (benchmarks/opencv_sample.py) side by side.

Two scores: labels per photo (the digits read against the photo's true digits, label by label, as the photos'
README suggests: no boxes needed) and, for puzzles, cells of the grid found in the photo (each true digit must be
read in its own cell; a digit read in an empty cell or outside the grid is false).
Altered (--enlarge ... --jpeg: as photos others took), they are read without the sample.
Never train on these photos. Needs Debian's opencv-doc (sudoku.png) and, for the sample, python3-opencv.
Usage: python benchmarks/photos.py MODEL [--photos ../shared/photos] [--out artifacts/bench_photos]
       [--enlarge 3] [--turn 8] [--exposure 0.4] [--blur 2] [--vignette 0.4] [--bend -0.25] [--curl 0.04]
       [--tilt 0.3] [--warmth 0.5] [--noise 8] [--jpeg 30]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedigits.device.detect import find_frame_grid
from edgedigits.device.live import RunOptions, load_model, read_digits
from edgedigits.footage import Score, cell_score
from edgedigits.images import SUDOKU_PNG, SUDOKU_PNG_GRID, Alteration, altered, read_image

from common import run_main, save
from versus_opencv import SAMPLES, SYSTEM_PYTHON, sample_missing

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos"
# Alteration's fields as flags: how each reads the photos.
ALTERATIONS = {"enlarge": (float, "enlarged this much, as a larger photo of it (0.75: smaller)"),
               "turn": (float, "turned this many degrees, as if taken askew"),
               "exposure": (float, "this much brighter (0.4: darker)"),
               "blur": (float, "blurred by this sigma (px)"),
               "vignette": (float, "with its corners this much darker"),
               "bend": (float, "bent by a lens (0.25: a wide one's barrel; -0.25: a pincushion)"),
               "curl": (float, "of a page curled, its lines' middles this share of its height lower"),
               "tilt": (float, "as taken from below the page, its top this much narrower"),
               "warmth": (float, "under lamplight, this much less blue"),
               "noise": (float, "with this much sensor noise (sigma)"),
               "jpeg": (int, "saved as a JPEG of this quality")}


@dataclass
class Photo:
    path: Path
    digits: str  # every true digit of the photo, in any order
    grid: list[list[int]] | None = None  # a puzzle's cells, 0 where empty


def photos(folder: Path) -> list[Photo]:
    """The photos of a folder with its truth.json, and sudoku.png where opencv-doc is installed."""
    found = []
    for entry in json.loads((folder / "truth.json").read_text()):
        grid = entry.get("grid")
        digits = "".join(str(d) for row in grid for d in row if d) if grid else "".join(entry["lines"])
        found.append(Photo(folder / entry["photo"], digits, grid))
    if SUDOKU_PNG.exists():
        found.append(Photo(SUDOKU_PNG, "".join(str(d) for row in SUDOKU_PNG_GRID for d in row if d), SUDOKU_PNG_GRID))
    return found


def label_score(read: list[dict], truth: str) -> Score:
    """The labels read against the true digits, label by label."""
    found, true = Counter(d["label"] for d in read), Counter(truth)
    correct = sum((found & true).values())
    return Score(truth=len(truth), found=sum(found.values()), correct=correct, missed=len(truth) - correct,
                 false_positives=sum(found.values()) - correct)


def ours(model, images: list[np.ndarray]) -> list[list[dict]]:
    return [read_digits(image, model, RunOptions.min_score).digits for image in images]


def sample(paths: list[Path]) -> list[list[dict]] | None:
    """OpenCV's sample on the same photos, or None where Debian's python3-opencv and opencv-doc are missing."""
    if (missing := sample_missing()) is not None:
        print(f"photos.py: {missing}; reading the photos without it", file=sys.stderr)
        return None
    done = subprocess.run([SYSTEM_PYTHON, str(Path(__file__).with_name("opencv_sample.py")), str(SAMPLES),
                           *map(str, paths)], capture_output=True, text=True, check=True)
    return [json.loads(line)["digits"] for line in done.stdout.splitlines() if line.startswith("{")]


def _cells(score: Score | None) -> str:
    return "no grid found" if score is None else f"{score.correct}/{score.truth}, {score.false_positives} false"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--out", type=Path)
    for name, (kind, text) in ALTERATIONS.items():
        parser.add_argument(f"--{name}", type=kind, default=getattr(Alteration(), name), help=f"read each photo {text}")
    args = parser.parse_args()
    change = Alteration(**{name: getattr(args, name) for name in ALTERATIONS})
    chosen = photos(args.photos)
    paths = [photo.path for photo in chosen]
    images = [altered(read_image(path), change) for path in paths]
    grids = [find_frame_grid(image) if photo.grid else None for photo, image in zip(chosen, images)]
    mine, theirs = ours(load_model(args.model), images), sample(paths) if change == Alteration() else None
    rows, totals = [], {"ours": Score(), "sample": Score()}
    lines = ["| photo | digits | F1 | read | false | cells | sample F1 | sample read | sample cells |",
             "|---|---:|---:|---:|---:|---|---:|---:|---|"]
    for index, photo in enumerate(chosen):
        row, cells, grid = {"photo": photo.path.name, "digits": len(photo.digits)}, {}, grids[index]
        for who, read in (("ours", mine[index]), ("sample", theirs[index] if theirs else None)):
            if read is None:
                continue
            labels = label_score(read, photo.digits)
            cells[who] = cell_score(read, photo.grid, grid) if photo.grid and grid is not None else None
            total = totals[who]
            for field in ("truth", "found", "correct", "missed", "false_positives"):
                setattr(total, field, getattr(total, field) + getattr(labels, field))
            row[who] = {"f1": round(labels.f1, 3), "correct": labels.correct, "false": labels.false_positives,
                        "cells": None if cells[who] is None else {"correct": cells[who].correct,
                                                                   "truth": cells[who].truth,
                                                                   "false": cells[who].false_positives}}
        rows.append(row)
        other = row.get("sample")
        lines.append(f"| {photo.path.name} | {len(photo.digits)} | {row['ours']['f1']:.3f} | {row['ours']['correct']} "
                     f"| {row['ours']['false']} | {_cells(cells['ours']) if photo.grid else '—'} | "
                     + (f"{other['f1']:.3f} | {other['correct']} | {_cells(cells['sample']) if photo.grid else '—'} |"
                        if other else "— | — | — |"))
    lines.append(f"| all | {totals['ours'].truth} | {totals['ours'].f1:.3f} | {totals['ours'].correct} | "
                 f"{totals['ours'].false_positives} | | " + (f"{totals['sample'].f1:.3f} | {totals['sample'].correct} | |"
                                                               if theirs else "— | — | |"))
    save(args.out, "photos", "\n".join(lines) + "\n", rows)


if __name__ == "__main__":
    run_main(main)
