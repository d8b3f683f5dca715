"""`edgedigits run`: frames in, digits out — the whole live loop."""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, TextIO

import cv2
import numpy as np

from edgedigits import EdgeDigitsError
from edgedigits.device.detect import DetectOptions, find_digits
from edgedigits.device.runtime import Classifier, load_artifact, load_classifier
from edgedigits.footage import Score, load_truth, score_frame
from edgedigits.manifest import MANIFEST, Manifest

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
PREFERRED = (("tflite", "int8"), ("tflite", "float32"), ("onnx", "int8"), ("onnx", "float32"))


@dataclass
class RunOptions:
    source: str
    model: Path
    json: bool = False
    headless: bool = False
    min_score: float = 0.5
    threads: int = 1
    truth: Path | None = None
    max_frames: int | None = None


@dataclass
class LoadedModel:
    classifier: Classifier
    classes: list[str]
    path: Path


@dataclass
class RunSummary:
    frames: int = 0
    seconds: float = 0.0
    ms: dict[str, list[float]] = field(default_factory=lambda: {"preprocess": [], "inference": [], "total": []})
    score: Score | None = None

    def lines(self) -> list[str]:
        fps = self.frames / self.seconds if self.seconds else 0.0
        out = [f"{self.frames} frames in {self.seconds:.1f} s ({fps:.1f} fps)"]
        for stage, values in self.ms.items():
            if values:
                out.append(f"{stage}: p50 {np.percentile(values, 50):.1f} ms, p99 {np.percentile(values, 99):.1f} ms")
        if self.score is not None:
            out.append(self.score.summary())
        return out


def load_model(path: Path, threads: int = 1) -> LoadedModel:
    """An artifact file, or an export folder (its preferred artifact); the manifest, when there is one,
    supplies class names and input quantization and its sha256 is checked."""
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    if not (directory / MANIFEST).exists():
        if path.is_dir():
            raise EdgeDigitsError(f"{path}: no {MANIFEST} in this folder")
        classifier = load_classifier(path, threads)
        return LoadedModel(classifier, [str(i) for i in range(classifier.predict(np.zeros((1, 28, 28), np.uint8)).shape[1])], path)
    manifest = Manifest.load(directory)
    if path.is_dir():
        artifact = next((manifest.find(*choice) for choice in PREFERRED if manifest.find(*choice)), None)
        if artifact is None:
            raise EdgeDigitsError(f"{path}: the manifest lists no TFLite or ONNX artifact")
    else:
        artifact = next((a for a in manifest.artifacts if a.path == path.name), None)
        if artifact is None:
            return LoadedModel(load_classifier(path, threads), manifest.classes, path)
    return LoadedModel(load_artifact(directory, manifest, artifact, threads), manifest.classes,
                       directory / artifact.path)


def open_frames(source: str) -> Iterator[np.ndarray]:
    """Frames of a camera index, a video file or an image file; fails early with a one-line reason."""
    if source.isdigit():
        capture = cv2.VideoCapture(int(source))
        if not capture.isOpened():
            raise EdgeDigitsError(f"camera {source} did not open (no such device, or busy; a Raspberry Pi "
                                  "camera module on Bookworm needs Picamera2, not V4L2)")
        return _read(capture)
    path = Path(source)
    if not path.exists():
        raise EdgeDigitsError(f"{source}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise EdgeDigitsError(f"{source}: not a readable image")
        return iter([image])
    capture = cv2.VideoCapture(str(path))
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok:
        raise EdgeDigitsError(f"{source}: not a readable video")
    return _chain(first, _read(capture))


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _read(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


def read_digits(frame: np.ndarray, model: LoadedModel, min_score: float,
                detect: DetectOptions = DetectOptions()) -> tuple[list[dict], dict[str, float]]:
    """The digits of one frame (box, label, score), all classified in one batched call, and stage times."""
    start = time.perf_counter()
    candidates = find_digits(frame, detect)
    detected = time.perf_counter()
    digits = []
    if candidates:
        scores = model.classifier.predict(np.stack([c.crop for c in candidates]))
        for candidate, row in zip(candidates, scores):
            best = int(row.argmax())
            if row[best] >= min_score:
                digits.append({"box": list(candidate.box), "label": model.classes[best], "score": round(float(row[best]), 4)})
    done = time.perf_counter()
    return digits, {"preprocess": (detected - start) * 1000, "inference": (done - detected) * 1000,
                    "total": (done - start) * 1000}


def draw(frame: np.ndarray, digits: list[dict]) -> np.ndarray:
    shown = frame.copy()
    for digit in digits:
        x, y, w, h = digit["box"]
        cv2.rectangle(shown, (x, y), (x + w, y + h), (0, 200, 0), 2)
        cv2.putText(shown, digit["label"], (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 255), 2)
    return shown


def _show(frame: np.ndarray, digits: list[dict]) -> bool:
    """Show the annotated frame; False once there is no GUI to show it in."""
    try:
        cv2.imshow("edgedigits", draw(frame, digits))
        return cv2.waitKey(1) & 0xFF != ord("q")
    except cv2.error:
        print("edgedigits: this OpenCV build has no GUI; running headless", file=sys.stderr)
        return False


def run(options: RunOptions, out: TextIO = sys.stdout) -> RunSummary:
    """Read digits from every frame of the source, printing JSON lines and scoring against truth if given."""
    model = load_model(options.model, options.threads)
    truth = load_truth(options.truth) if options.truth else None
    frames = open_frames(options.source)
    show = not options.headless and bool(os.environ.get("DISPLAY"))
    summary = RunSummary(score=Score() if truth is not None else None)
    start = time.perf_counter()
    try:
        for index, frame in enumerate(frames):
            if options.max_frames is not None and index >= options.max_frames:
                break
            digits, ms = read_digits(frame, model, options.min_score)
            summary.frames += 1
            for stage, value in ms.items():
                summary.ms[stage].append(value)
            if options.json:
                print(json.dumps({"frame": index, "digits": digits, "ms": {k: round(v, 2) for k, v in ms.items()}}),
                      file=out, flush=True)
            if truth is not None and index < len(truth):
                score_frame(digits, truth[index], summary.score)
            if show:
                show = _show(frame, digits)
    except KeyboardInterrupt:
        pass
    summary.seconds = time.perf_counter() - start
    return summary
