"""Every artifact of an export on the full test split: accuracy, agreement with float, latency."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgedigits.agreement import against_float
from edgedigits.data import Split
from edgedigits.device.runtime import Classifier, load_artifact, predict_all
from edgedigits.manifest import Manifest, write_atomic
from edgedigits.tables import markdown_table
from edgedigits.targets import REFERENCE, RUNTIME_FORMATS

# The live reader classifies a frame's candidates in one call: 7 to 90 crops a frame in the held-out footage
# (a median of 13 to 16 on a page, 32 on a grid), never one. A device picks its model by the time of this many.
FRAME_CROPS = 16


@dataclass
class BenchRow:
    format: str
    precision: str
    path: str
    kb: float
    status: str = "ok"
    runtime: str = ""
    accuracy: float | None = None
    drop_pp: float | None = None
    agreement: float | None = None
    p50_us: float | None = None
    p99_us: float | None = None
    speedup: float | None = None
    frame_us: float | None = None  # one call on a frame's crops (FRAME_CROPS)


def latency_us(classifier: Classifier, batch: np.ndarray, repeats: int) -> list[float]:
    """Wall time of `repeats` raw inference calls, in microseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        classifier.run(batch)
        times.append((time.perf_counter_ns() - start) / 1000)
    return times


def interleaved_latency_us(classifiers: dict, image: np.ndarray, rounds: int, repeats: int) -> dict:
    """Single-image call times (µs) of each classifier, in rounds that interleave them so a busy moment on the
    machine touches all of them alike; the first, allocating call is kept out."""
    inputs = {key: classifier.prepare(image) for key, classifier in classifiers.items()}
    for key, classifier in classifiers.items():
        classifier.run(inputs[key])
    timings: dict = {key: [] for key in classifiers}
    for _ in range(rounds):
        for key, classifier in classifiers.items():
            timings[key] += latency_us(classifier, inputs[key], repeats)
    return timings


@dataclass
class Timing:
    p50_us: float  # one image a call
    p99_us: float
    frame_us: float  # a frame's crops (FRAME_CROPS) a call


def timings(classifiers: dict, images: np.ndarray, rounds: int, repeats: int) -> dict:
    """Each classifier's single-image latency and its median time on a frame's crops, calls interleaved."""
    single = interleaved_latency_us(classifiers, images[:1], rounds, repeats)
    frame = interleaved_latency_us(classifiers, images[:FRAME_CROPS], rounds, max(1, repeats // 4))
    return {key: Timing(float(np.percentile(single[key], 50)), float(np.percentile(single[key], 99)),
                        float(np.median(frame[key]))) for key in classifiers}


def bench(export_dir: Path, test: Split, threads: int = 1, rounds: int = 10, repeats: int = 200) -> list[BenchRow]:
    """One row per runtime artifact; a failing artifact becomes a row with its status, not an abort."""
    export_dir = Path(export_dir)
    manifest = Manifest.load(export_dir)
    rows: list[BenchRow] = []
    loaded: dict[int, Classifier] = {}
    predictions: dict[int, np.ndarray] = {}
    for artifact in (a for a in manifest.artifacts if a.format in RUNTIME_FORMATS):
        row = BenchRow(artifact.format, artifact.precision, artifact.path, round(artifact.bytes / 1024, 1))
        rows.append(row)
        try:
            classifier = load_artifact(export_dir, manifest, artifact, threads)
            predictions[id(row)] = predict_all(classifier, test.images).argmax(axis=1)
        except Exception as exc:  # any failure of one artifact is its row's status, as ultralytics' benchmark does
            row.status = f"failed: {exc}"
            continue
        row.runtime = classifier.runtime
        row.accuracy = float(np.mean(predictions[id(row)] == test.labels))
        loaded[id(row)] = classifier

    timed = timings(loaded, test.images, rounds, repeats)
    for row in rows:
        if id(row) in timed:
            own = timed[id(row)]
            row.p50_us, row.p99_us, row.frame_us = own.p50_us, own.p99_us, own.frame_us

    reference = next((r for r in rows if (r.format, r.precision) == REFERENCE and r.accuracy is not None), None)
    for row in rows:
        if row.accuracy is None:
            continue
        twin = next((r for r in rows if r.format == row.format and r.precision == "float32" and r.p50_us), None)
        if twin is not None:
            row.speedup = twin.p50_us / row.p50_us
        if reference is not None:
            compared = against_float(predictions[id(row)], predictions[id(reference)], test.labels)
            row.drop_pp, row.agreement = compared.drop_pp, compared.agreement
    return rows


def _cell(value, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


def format_table(rows: list[BenchRow]) -> str:
    """The bench rows as a Markdown table."""
    numbers = ["size KB", "accuracy", "drop pp", "agreement", "p50 µs", "p99 µs", "speed-up",
               f"µs a frame ({FRAME_CROPS} crops)"]
    return markdown_table(["model", "format", "precision", *numbers, "runtime", "status"], (
        [r.path, r.format, r.precision, f"{r.kb:.1f}", _cell(r.accuracy, "{:.2%}"), _cell(r.drop_pp, "{:+.2f}"),
         _cell(r.agreement, "{:.2%}"), _cell(r.p50_us, "{:.0f}"), _cell(r.p99_us, "{:.0f}"), _cell(r.speedup, "{:.2f}x"),
         _cell(r.frame_us, "{:.0f}"), r.runtime or "—", r.status] for r in rows), right=numbers)


def write_bench(export_dir: Path, rows: list[BenchRow], threads: int) -> str:
    table = format_table(rows)
    write_atomic(Path(export_dir) / "bench.json",
                 json.dumps({"threads": threads, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    write_atomic(Path(export_dir) / "bench.md",
                 f"Full 10,000-image MNIST test split; latency of single-image calls and time of one call on a "
                 f"frame's {FRAME_CROPS} crops, {threads} thread(s).\n\n{table}\n")
    return table
