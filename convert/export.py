"""Convert a training run into every runtime artifact and describe them in manifest.json."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from edgedigits import EdgeDigitsError
from edgedigits.convert.calibration import DEFAULT_DIR, load_calibration
from edgedigits.convert.onnx import to_onnx_float, to_onnx_int8
from edgedigits.convert.tflite import to_tflite
from edgedigits.data import CLASSES, Split
from edgedigits.device.runtime import load_classifier, predict_all
from edgedigits.manifest import Artifact, InputSpec, Manifest, write_atomic
from edgedigits.quiet import silenced


@dataclass(frozen=True)
class Export:
    path: str
    format: str
    precision: str
    make: Callable[[], bytes]


def load_run_model(run_dir: Path) -> keras.Model:
    path = Path(run_dir) / "model.keras"
    if not path.exists():
        raise EdgeDigitsError(f"{path}: not found (train first: edgedigits train --out {run_dir})")
    try:
        return keras.models.load_model(path)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise EdgeDigitsError(f"{path}: not a loadable Keras model ({type(exc).__name__})") from None


def _input_spec(path: Path) -> InputSpec:
    quant = load_classifier(path).input_quant
    if not quant.quantized:
        return InputSpec(str(quant.dtype))
    return InputSpec(str(quant.dtype), quant.scale, quant.zero_point)


def convert(run_dir: Path, test: Split, calibration_dir: Path = DEFAULT_DIR) -> Manifest:
    """Write float32/int8 TFLite and ONNX beside model.keras, each checked on the test split."""
    run_dir = Path(run_dir)
    model = load_run_model(run_dir)
    calibration = load_calibration(calibration_dir)
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    manifest = Manifest(model=metrics.get("model", model.name), classes=metrics.get("classes", list(CLASSES)))
    manifest.artifacts.append(Artifact.of_file(run_dir, "model.keras", "keras", "float32", InputSpec("float32"),
                                               metrics.get("test_accuracy")))
    exports = (
        Export("model_float32.tflite", "tflite", "float32", lambda: to_tflite(model, "float32")),
        Export("model_int8.tflite", "tflite", "int8", lambda: to_tflite(model, "int8", calibration)),
        Export("model_float32.onnx", "onnx", "float32", lambda: to_onnx_float(model)),
        # Runs after the float export above, whose file it quantizes.
        Export("model_int8.onnx", "onnx", "int8",
               lambda: to_onnx_int8((run_dir / "model_float32.onnx").read_bytes(), calibration)),
    )
    for export in exports:
        print(f"convert: {export.path} ...", flush=True)
        with silenced():  # the converters print pages of graph dumps and notices
            model_bytes = export.make()
        write_atomic(run_dir / export.path, model_bytes)
        accuracy = artifact_accuracy(run_dir / export.path, test)
        manifest.artifacts.append(Artifact.of_file(run_dir, export.path, export.format, export.precision,
                                                   _input_spec(run_dir / export.path), accuracy))
        print(f"convert: {export.path}: {accuracy:.2%} test accuracy", flush=True)
    manifest.save(run_dir)
    return manifest


def artifact_accuracy(path: Path, test: Split) -> float:
    scores = predict_all(load_classifier(path), test.images)
    return float(np.mean(scores.argmax(axis=1) == test.labels))
