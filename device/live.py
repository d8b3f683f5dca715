"""`edgedigits run`: frames in, digits out — the whole live loop."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence, TextIO

import cv2
import numpy as np

from edgedigits import EdgeDigitsError
from edgedigits.data import NOT_A_DIGIT
from edgedigits.device.bench import FRAME_CROPS, interleaved_latency_us
from edgedigits.device.detect import Candidate, DetectOptions, choose_reading, find_digits, too_wide
from edgedigits.device.normalize import MNIST_SIZE
from edgedigits.device.numbers import (group_numbers, page_of_words, unread_in_numbers, with_neighbours,
                                       without_stems)
from edgedigits.device.runtime import (Classifier, available_runtimes, check_classes, load_artifact, load_classifier,
                                      predict_all)
from edgedigits.device.sources import Source, SourceOptions, open_source
from edgedigits.footage import Score, load_truth, score_frame
from edgedigits.manifest import MANIFEST, Manifest, atomic_path
from edgedigits.targets import AUTO, LIVE, bundled_model, first, matching

STAGES = ("capture", "preprocess", "inference", "total")


@dataclass
class RunOptions:
    source: str
    model: Path | None  # None: default_model()
    json: bool = False
    headless: bool = False
    min_score: float = 0.9  # softmax scores of letters and scribbles mostly fall below this; digits rarely
    steady: bool = False  # score each crop by its least sure of 6 slightly moved copies
    threads: int = 1
    accelerator: str | None = AUTO  # AUTO: a release's own (the Edge TPU for coral); None: the CPU
    truth: Path | None = None
    save: Path | None = None
    max_frames: int | None = None
    capture: SourceOptions = field(default_factory=SourceOptions)


@dataclass
class LoadedModel:
    classifier: Classifier
    classes: list[str]
    path: Path
    precision: str  # the manifest's word for it, or the input dtype of a bare model file
    name: str = ""  # the manifest's model name, else the file's
    version: int | None = None  # a release's bundle version
    sha256: str | None = None  # the manifest's (checked on loading); None for a bare model file


@dataclass
class RunSummary:
    frames: int = 0
    dropped: int = 0
    seconds: float = 0.0
    ms: dict[str, list[float]] = field(default_factory=lambda: {stage: [] for stage in STAGES})
    score: Score | None = None
    failure: str = ""
    interrupted: int = 0  # the exit status of a run stopped by Ctrl-C (130) or SIGTERM (143)
    model: str = ""  # which model file ran, and on what

    def lines(self) -> list[str]:
        fps = self.frames / self.seconds if self.seconds else 0.0
        out = [f"{self.frames} frames in {self.seconds:.1f} s ({fps:.1f} fps), {self.dropped} dropped"]
        if self.model:
            out.append(f"model: {self.model}")
        for stage, values in self.ms.items():
            if values:
                out.append(f"{stage}: p50 {np.percentile(values, 50):.1f} ms, p99 {np.percentile(values, 99):.1f} ms")
        if self.score is not None:
            out.append(self.score.summary())
        return out


def _bare(path: Path, threads: int, accelerator: str | None, classes: list[str] | None = None) -> LoadedModel:
    """A model file no manifest describes: its own quantization parameters, classes by index."""
    classifier = load_classifier(path, threads, accelerator=accelerator)
    if classes is not None:
        check_classes(classifier, classes, path)
    return LoadedModel(classifier, classes or [str(i) for i in range(classifier.classes)], path,
                       classifier.input_quant.dtype.name, path.stem)


DEFAULT_MODELS = (Path("artifacts/live"), Path("~/edgedigits/current"))  # `make demo`'s, a device's release


def default_model() -> Path:
    """The live model to use when none is named: the workstation's `make demo` export, or a device's release."""
    for path in DEFAULT_MODELS:
        if (path.expanduser() / MANIFEST).exists():
            return path.expanduser()
    raise EdgeDigitsError("no model: give --model (`make demo` trains one into artifacts/live)")


def load_model(path: Path | None, threads: int = 1, accelerator: str | None = AUTO) -> LoadedModel:
    """An artifact file, or a folder: a release (its bundle's model, on its target's accelerator unless another
    or None is asked for) or an export (its preferred artifact), or the default model; the manifest, when there
    is one, supplies class names and input quantization and its sha256 is checked."""
    path = default_model() if path is None else Path(path)
    directory = path if path.is_dir() else path.parent
    on_cpu = None if accelerator == AUTO else accelerator
    if not (directory / MANIFEST).exists():
        if path.is_dir():
            raise EdgeDigitsError(f"{path}: no {MANIFEST} in this folder")
        return _bare(path, threads, on_cpu)
    manifest = Manifest.load(directory)
    if path.is_dir() and manifest.bundle:
        artifact, accelerator = bundled_model(manifest, accelerator)
    elif path.is_dir():
        artifact, accelerator = first(manifest, LIVE), on_cpu
        if artifact is None:
            raise EdgeDigitsError(f"{path}: the manifest lists no TFLite or ONNX artifact")
    else:
        artifact, accelerator = next((a for a in manifest.artifacts if a.path == path.name), None), on_cpu
        if artifact is None:
            return _bare(path, threads, accelerator, manifest.classes)
    return LoadedModel(load_artifact(directory, manifest, artifact, threads, accelerator), manifest.classes,
                       directory / artifact.path, artifact.precision, manifest.model,
                       (manifest.bundle or {}).get("version"), artifact.sha256)


def fastest_artifact(path: Path | None, threads: int = 1, accelerator: str | None = AUTO) -> Path | None:
    """An export folder read on the CPU: its live artifact that reads a frame's crops fastest on this machine,
    timed side by side (int8 pays on one CPU and not on another); any other model: as given. The first preferred
    stays unless another is a tenth faster (timings wander)."""
    folder = default_model() if path is None else Path(path)
    if accelerator not in (AUTO, None) or not (folder / MANIFEST).exists():
        return path
    manifest = Manifest.load(folder)
    if manifest.bundle:
        return path
    runtimes = available_runtimes()  # (ONNX Runtime has no wheel for a 32-bit Pi)
    loadable = {"tflite": "litert" in runtimes or "tflite_runtime" in runtimes, "onnx": "onnxruntime" in runtimes}
    classifiers = {artifact.path: load_artifact(folder, manifest, artifact, threads)
                   for artifact in matching(manifest, LIVE, None) if loadable[artifact.format]}
    crops = np.random.default_rng(0).integers(0, 256, (FRAME_CROPS, MNIST_SIZE, MNIST_SIZE), np.uint8)
    timings = interleaved_latency_us(classifiers, crops, 3, 10)
    medians = {name: float(np.median(times)) for name, times in timings.items()}
    preferred, fastest = next(iter(medians), None), min(medians, key=medians.get, default=None)
    if preferred is None:
        return path
    return folder / (fastest if medians[fastest] < 0.9 * medians[preferred] else preferred)


# Crops a model call takes at most: a runtime keeps the memory of its largest batch (ONNX Runtime ~0.25 MB a crop;
# a page of text yields hundreds of candidates), and a crop costs no more in batches of 32 than of 100.
CROPS_A_CALL = 32


def _scores(classifier: Classifier, crops: np.ndarray) -> np.ndarray:
    """Class scores of a frame's crops, at most CROPS_A_CALL a call, every call of one size: TFLite reallocates its
    tensors for each new batch size (the last call is padded with blank crops, fewer than the calls)."""
    calls = max(1, -(-len(crops) // CROPS_A_CALL))
    size = -(-len(crops) // calls)
    padded = np.concatenate([crops, np.zeros((calls * size - len(crops), *crops.shape[1:]), crops.dtype)])
    return predict_all(classifier, padded, size)[:len(crops)]


SHIFTS = ((2, 0), (-2, 0), (0, 2), (0, -2))
# How much less sure a digit may be in a frame where at most one reading is "not a digit": the score threshold is
# there for letters, words and scribbles, and a frame that shows none of them (a page of numbers) has little to
# keep out. (Held-out footage: desk 0.969 -> 0.975, motion blur 0.948 -> 0.960; pages of text as before.)
WORDLESS_EASING = 0.1


def steady_scores(model: LoadedModel, crops: np.ndarray) -> np.ndarray:
    """Each class's lowest score over the crop, the crop shifted 2 px four ways and shrunk by a fifth: a
    digit keeps its class when it moves a little, most letters and scribbles do not."""
    moved = [cv2.warpAffine(crop, np.float32([[1, 0, dx], [0, 1, dy]]), crop.shape[::-1])
             for dx, dy in SHIFTS for crop in crops]
    shrunk = [cv2.resize(cv2.resize(crop, (22, 22), interpolation=cv2.INTER_AREA), crop.shape[::-1]) for crop in crops]
    scores = _scores(model.classifier, np.concatenate([crops, np.stack(moved), np.stack(shrunk)]))
    return scores.reshape(len(SHIFTS) + 2, len(crops), -1).min(axis=0)


@dataclass
class Reading:
    digits: list[dict]  # box, label, score
    ms: dict[str, float]  # by stage
    rejected: int  # candidates read as "not a digit", below the score threshold, or 1s standing in a word


def _likeliest_digits(scores: np.ndarray, classes: Sequence[str]) -> list[tuple[str, float]]:
    """Each row's likeliest digit class (not "not a digit") and its score."""
    digits = [k for k, name in enumerate(classes) if name != NOT_A_DIGIT]
    best = scores[:, digits].argmax(axis=1)
    return [(classes[digits[b]], float(row[digits[b]])) for b, row in zip(best, scores)]


def _words_run_together(letters: list[Candidate]) -> int:
    """How many blobs no digit are too wide for one, words whose letters ran together: on a page of big words whose
    letters each read as a digit (a bold italic W as 4, an R as 3), its other words (blobs read N are few there)."""
    return sum(too_wide(c.box) for c in letters)


def read_digits(frame: np.ndarray, model: LoadedModel, min_score: float, steady: bool = False,
                detect: DetectOptions = DetectOptions()) -> Reading:
    """The digits of one frame, classified in batched calls (CROPS_A_CALL), with stage times."""
    start = time.perf_counter()
    found_ink = find_digits(frame, replace(detect, letters=True))
    candidates, letters = [c for c in found_ink if not c.letter], [c for c in found_ink if c.letter]
    detected = time.perf_counter()
    digits, readings = [], []
    if candidates:
        crops = np.array([c.crop for c in candidates])
        scores = steady_scores(model, crops) if steady else _scores(model.classifier, crops)
        labels, surest = scores.argmax(axis=1).tolist(), scores.max(axis=1).tolist()
        # A blob's readings (whole, or split in two or three) compete on how sure the model is of each, "not a
        # digit" included: a word read whole as N stays one non-digit rather than becoming three 1s.
        # (A word on its side is a bar too, which any model reads as a 1: see SIDEWAYS.)
        names = [NOT_A_DIGIT if c.sideways and model.classes[label] == "1" else model.classes[label]
                 for c, label in zip(candidates, labels)]
        readings = choose_reading(candidates, surest, names)
        found = [{"box": list(candidates[i].box), "label": names[i], "score": round(surest[i], 4)} for i in readings]
        read, knows_n = [names[i] for i in readings], NOT_A_DIGIT in model.classes
        needed = min_score - WORDLESS_EASING if knows_n and read.count(NOT_A_DIGIT) <= 1 else min_score
        sure = [surest[i] >= needed and names[i] != NOT_A_DIGIT for i in readings]
        # Only a model that knows "not a digit" can hold a reading likely a digit (to one without, all are).
        digit = with_neighbours(found, sure) if knows_n else sure
        words = page_of_words(read + [NOT_A_DIGIT] * _words_run_together(letters))
        if not words and NOT_A_DIGIT in read:  # (only a model that knows N reads it)
            likeliest = _likeliest_digits(scores[readings], model.classes)
            for k, reading in unread_in_numbers(found, sure, likeliest).items():
                found[k], digit[k] = reading, True
        unread = [f for f, d in zip(found, digit) if not d]
        # On a page of words its blobs no digit (lower-case letters too short, words run together too wide) stand
        # beside its capitals' stems (an italic U's, whose hairline half faded, read as a 1 before "an"); elsewhere
        # short blobs beside a digit are as often a form's labels or specks as letters (tuning forms: 36 more
        # digits lost).
        if words:
            unread += [{"box": list(c.box), "label": NOT_A_DIGIT, "score": 0.0} for c in letters]
        digits = without_stems([f for f, d in zip(found, digit) if d], unread, words=words)
    done = time.perf_counter()
    return Reading(digits, {"preprocess": (detected - start) * 1000, "inference": (done - detected) * 1000,
                            "total": (done - start) * 1000}, len(readings) - len(digits))


def draw(frame: np.ndarray, digits: list[dict], fps: float | None = None) -> np.ndarray:
    shown = frame.copy()
    for digit in digits:
        x, y, w, h = digit["box"]
        cv2.rectangle(shown, (x, y), (x + w, y + h), (0, 200, 0), 2)
        cv2.putText(shown, digit["label"], (x, max(14, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)
    if fps is not None:
        cv2.putText(shown, f"{fps:.1f} fps", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 0, 0), 2)
    return shown


def _show(image: np.ndarray) -> bool:
    """Show a frame; False once the user quits or there is no GUI to show it in."""
    try:
        cv2.imshow("edgedigits", image)
        return cv2.waitKey(1) & 0xFF not in (ord("q"), 27)
    except cv2.error:
        print("edgedigits: this OpenCV build has no GUI; running headless", file=sys.stderr)
        return False


@dataclass
class FrameResult:
    index: int
    frame: np.ndarray
    digits: list[dict]
    ms: dict[str, float]
    rejected: int = 0
    capture_ms: float = 0.0

    def line(self) -> dict:
        """The frame as one `--json` line."""
        return {"frame": self.index, "digits": self.digits, "numbers": group_numbers(self.digits),
                "ms": {k: round(v, 2) for k, v in self.ms.items()}}


def process(source: Source, model: LoadedModel, min_score: float, summary: RunSummary,
            max_frames: int | None = None, steady: bool = False) -> Iterator[FrameResult]:
    """The live pipeline, shared by `run` and `serve`: every frame of the source read, timed and counted."""
    index = 0
    while max_frames is None or index < max_frames:
        start = time.perf_counter()
        frame = source.read()
        if frame is None:
            break
        capture_ms = (time.perf_counter() - start) * 1000
        reading = read_digits(frame, model, min_score, steady)
        summary.frames += 1
        for stage, value in (("capture", capture_ms), *reading.ms.items()):
            summary.ms[stage].append(value)
        summary.dropped, summary.failure = source.dropped, source.failure
        yield FrameResult(index, frame, reading.digits, reading.ms, reading.rejected, capture_ms)
        index += 1
    summary.dropped, summary.failure = source.dropped, source.failure


VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")  # what OpenCV's FFmpeg writer makes with the mp4v codec


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that a run stopped by a service manager ends as on Ctrl-C."""


class NothingSaved(Exception):
    """Raised inside the save's atomic_path so that a video with no frames never replaces a file."""


def _check_options(options: RunOptions) -> None:
    for name in ("width", "height", "fps"):
        value = getattr(options.capture, name)
        if value is not None and value <= 0:
            raise EdgeDigitsError(f"--{name} {value}: must be positive")
    if options.threads < 1 or (options.max_frames is not None and options.max_frames < 1):
        raise EdgeDigitsError("--threads and --max-frames must be at least 1")
    if options.save is None:
        return
    if options.save.suffix.lower() not in VIDEO_SUFFIXES:
        raise EdgeDigitsError(f"--save {options.save}: a video needs one of {', '.join(VIDEO_SUFFIXES)}")
    if options.save.resolve() == Path(options.source).resolve() or options.save.is_dir():
        raise EdgeDigitsError(f"--save {options.save}: that is the source (or a folder), it would be replaced")


def run(options: RunOptions, out: TextIO = sys.stdout) -> RunSummary:
    """Read digits from every frame of the source: JSON lines, a window, a saved video, a score, a summary.
    Ctrl-C or SIGTERM ends the run as its source ending would: the video is completed, the summary kept."""
    _check_options(options)
    # OpenCV's own pool costs more in hand-offs than it saves on a 640x480 frame's many small calls.
    cv2.setNumThreads(options.threads)
    model = load_model(options.model, options.threads, options.accelerator)
    truth = load_truth(options.truth) if options.truth else None
    source = open_source(options.source, options.capture)
    show = not options.headless and bool(os.environ.get("DISPLAY"))
    summary = RunSummary(score=Score() if truth is not None else None,
                         model=f"{model.path.name} ({model.precision}, {model.classifier.runtime})")
    writer = None
    start = time.perf_counter()
    with contextlib.suppress(NothingSaved), contextlib.ExitStack() as stack:
        stack.callback(source.close)
        saved = stack.enter_context(atomic_path(options.save)) if options.save else None
        try:
            for result in process(source, model, options.min_score, summary, options.max_frames, options.steady):
                if options.json:
                    print(json.dumps(result.line()), file=out, flush=True)
                if truth is not None and result.index < len(truth):
                    score_frame(result.digits, truth[result.index], summary.score)
                if show or saved:
                    annotated = draw(result.frame, result.digits, summary.frames / (time.perf_counter() - start))
                    if saved and writer is None:
                        writer = _video_writer(saved, options.capture.fps or 10, annotated)
                        stack.callback(writer.release)
                    if writer is not None:
                        writer.write(annotated)
                    if show:
                        show = _show(annotated)
        except KeyboardInterrupt as stop:
            summary.interrupted = 143 if isinstance(stop, Terminated) else 130
        if saved and writer is None:
            summary.failure = summary.failure or f"no frames: {options.save} left as it was"
            raise NothingSaved
    summary.seconds = time.perf_counter() - start
    summary.dropped, summary.failure = source.dropped, summary.failure or source.failure
    return summary


def _video_writer(path: Path, fps: float, first: np.ndarray) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (first.shape[1], first.shape[0]))
    if not writer.isOpened():
        raise EdgeDigitsError(f"{path}: OpenCV cannot write this video (codec mp4v, {first.shape[1]}x{first.shape[0]})")
    return writer
