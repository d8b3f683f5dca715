"""edgedigits' live pipeline against OpenCV's own sample digits_video.py, on the same rendered 640x480 footage,
single thread: F1 and milliseconds per frame (finding + classifying digits; decoding not counted) for each,
the median over frames of each frame's fastest of several passes taken in turns. Then a whole run as a user
starts it, start-up and decoding included: `edgedigits run --headless` against the sample's loop on one
600-frame video, both on one core, seconds from start to exit (the fastest of 3 runs each, taken in turns).

Needs Debian's python3-opencv (cv2.ml) and opencv-doc (the sample, its digits.png):
    apt-get install python3-opencv opencv-doc
Usage: python benchmarks/versus_opencv.py MODEL [--frames 30] [--passes 5] [--whole-frames 600]
                                          [--out artifacts/bench_versus]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from edgedigits.data import load_mnist
from edgedigits.device.live import RunOptions, load_model, read_digits
from edgedigits.device.sources import SourceOptions, open_source
from edgedigits.footage import HARD, FootageOptions, Score, load_truth, render_video, score_frame, truth_path

from common import run_main, save

SAMPLES = Path("/usr/share/doc/opencv-doc/examples/python")
SYSTEM_PYTHON = "/usr/bin/python3"


def sample_missing() -> str | None:
    """Why OpenCV's sample cannot run here (Debian's opencv-doc or python3-opencv, whose cv2.ml pip's OpenCV
    lacks, not installed), or None."""
    ready = (SAMPLES / "digits_video.py").exists() and Path(SYSTEM_PYTHON).exists() and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import cv2; cv2.ml"], capture_output=True).returncode == 0
    return None if ready else f"OpenCV's sample needs {SAMPLES} and {SYSTEM_PYTHON} with cv2.ml: " \
                              "apt-get install python3-opencv opencv-doc"


def sample_pass(video: Path) -> list[dict]:
    done = subprocess.run([SYSTEM_PYTHON, str(Path(__file__).with_name("opencv_sample.py")), str(SAMPLES), str(video)],
                          capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def our_pass(frames: list[np.ndarray], model) -> list[dict]:
    lines = []
    for frame in frames:
        reading = read_digits(frame, model, RunOptions.min_score)
        lines.append({"digits": reading.digits, "ms": reading.ms["total"]})
    return lines


def decoded(video: Path) -> list[np.ndarray]:
    """All frames of a video, decoded before any timing starts (as the sample's runner does too), so that
    the decoder's threads never share the core with the timed work."""
    source, frames = open_source(str(video), SourceOptions()), []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    return frames


def scored(passes: list[list[dict]], truth) -> tuple[Score, float]:
    """F1 of the first pass; the median over frames of each frame's fastest pass (a frame's own cost, with the
    moments another process had the core left out)."""
    score = Score()
    for line, frame_truth in zip(passes[0], truth):
        score_frame(line["digits"], frame_truth, score)
    fastest = np.min([[line["ms"] for line in lines] for lines in passes], axis=0)
    return score, float(np.median(fastest))


def whole_runs(video: Path, model: Path, runs: int = 3) -> tuple[float, float]:
    """Seconds from start to exit of the sample's loop (its SVM loaded, as digits_video.py loads the one
    digits.py saved) and of `edgedigits run` on a video, each the fastest of `runs` (taken in turns)."""
    svm = video.with_name("digits_svm.dat")
    sample = [SYSTEM_PYTHON, str(Path(__file__).with_name("opencv_sample.py")), "--svm", str(svm), str(SAMPLES)]
    subprocess.run([*sample, str(SAMPLES.parent / "data" / "digits.png")], check=True, stdout=subprocess.DEVNULL)
    # Both on one core: each process may start threads of its own (a decoder's, OpenCV's).
    commands = (["taskset", "-c", "0", *sample, str(video)],
                ["taskset", "-c", "0", sys.executable, "-m", "edgedigits.cli", "run", "--source", str(video),
                 "--model", str(model), "--headless", "--threads", "1"])
    best = [float("inf")] * len(commands)
    for _ in range(runs):
        for index, command in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            best[index] = min(best[index], time.perf_counter() - start)
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--passes", type=int, default=5, help="passes over each video, the sample's and ours in turn")
    parser.add_argument("--whole-frames", type=int, default=600, help="frames of the whole-run video (0: no run)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if (missing := sample_missing()) is not None:
        sys.exit(missing)
    cv2.setNumThreads(1)
    model, test = load_model(args.model, threads=1), load_mnist().test
    lines = ["| footage | digits | sample F1 | ours F1 | sample p50 ms | ours p50 ms | sample fps | ours fps | "
             "speed-up |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for condition in ("plain", *HARD):
            video = Path(folder) / f"{condition}.mp4"
            render_video(video, test, FootageOptions(condition=condition, frames=args.frames, seed=11))
            truth = load_truth(truth_path(video))
            theirs, ours, frames = [], [], decoded(video)
            for _ in range(args.passes):  # taking turns, so that a busy spell on the machine hits both alike
                theirs.append(sample_pass(video))
                ours.append(our_pass(frames, model))
            (theirs, their_ms), (ours, our_ms) = scored(theirs, truth), scored(ours, truth)
            rows.append({"condition": condition, "digits": ours.truth, "sample_f1": theirs.f1, "ours_f1": ours.f1,
                         "sample_ms": their_ms, "ours_ms": our_ms})
            lines.append(f"| {condition} | {ours.truth} | {theirs.f1:.3f} | {ours.f1:.3f} | {their_ms:.2f} | "
                         f"{our_ms:.2f} | {1000 / their_ms:.0f} | {1000 / our_ms:.0f} | {their_ms / our_ms:.2f}x |")
            print(lines[-1], flush=True)
        if args.whole_frames:
            video = Path(folder) / "whole.mp4"
            render_video(video, test, FootageOptions(frames=args.whole_frames, seed=11))
            their_s, our_s = whole_runs(video, args.model)
    their_ms, our_ms = (float(np.mean([r[k] for r in rows])) for k in ("sample_ms", "ours_ms"))
    lines.append(f"| all (mean) | {sum(r['digits'] for r in rows)} | {np.mean([r['sample_f1'] for r in rows]):.3f} | "
                 f"{np.mean([r['ours_f1'] for r in rows]):.3f} | {their_ms:.2f} | {our_ms:.2f} | "
                 f"{1000 / their_ms:.0f} | {1000 / our_ms:.0f} | {their_ms / our_ms:.2f}x |")
    if args.whole_frames:
        lines += ["", f"A whole run over {args.whole_frames} frames, start-up included: the sample's loop {their_s:.2f} s, "
                      f"`edgedigits run --headless` {our_s:.2f} s ({their_s / our_s:.2f}x)."]
        rows.append({"whole_frames": args.whole_frames, "sample_s": their_s, "ours_s": our_s})
    table = "\n".join(lines) + "\n"
    save(args.out, "versus_opencv", table, rows)


if __name__ == "__main__":
    run_main(main)
