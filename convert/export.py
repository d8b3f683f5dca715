"""Convert a training run into every runtime artifact, describe them in manifest.json, report on int8."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from edgedigits import EdgeDigitsError, NotApplicable, targets
from edgedigits.agreement import against_float
from edgedigits.convert.calibration import DEFAULT_DIR, load_calibration
from edgedigits.convert.edgetpu import check_ops, compile_for_edgetpu, format_checks
from edgedigits.convert.onnx import OnnxQuant, to_onnx_float, to_onnx_int8
from edgedigits.convert.report import write_quantization_report
from edgedigits.convert.tflite import TFLITE_PRECISIONS, to_tflite
from edgedigits.data import CLASSES, Dataset, Split
from edgedigits.device.bench import FRAME_CROPS, interleaved_latency_us
from edgedigits.device.runtime import Classifier, load_classifier, predict_all
from edgedigits.manifest import Artifact, InputSpec, Manifest, write_atomic
from edgedigits.quiet import silenced
from edgedigits.targets import REFERENCE, Export

EDGETPU_MODEL = next(e.path for e in targets.EXPORTS if e.variant == "edgetpu-static")
EDGETPU_COMPILED = "model_tpu_edgetpu.tflite"  # edgetpu_compiler's name for its output


@dataclass(frozen=True)
class ConvertOptions:
    calibration_dir: Path = DEFAULT_DIR
    onnx: OnnxQuant = field(default_factory=OnnxQuant)
    pick_fastest: bool = False  # measure every ONNX int8 form/type and keep the fastest within the budget
    budget_pp: float = 0.1  # accuracy a picked ONNX int8 model may lose against float, in points
    target: str = "all"  # or "edgetpu": also a static-shape full-int8 model checked against the Edge TPU's rules
    report: bool = True


@dataclass(frozen=True)
class Built:
    model: bytes
    input: InputSpec | None = None  # None: read it from the model itself
    variant: str | None = None
    notes: tuple[str, ...] = ()


# How an export is made: from the Keras model, or (given) from the bytes of the export it names as its source.
Builder = Callable[[bytes | None], Built]


def load_run_model(run_dir: Path) -> keras.Model:
    path = Path(run_dir) / "model.keras"
    if not path.exists():
        raise EdgeDigitsError(f"{path}: not found (train first: edgedigits train --out {run_dir})")
    try:
        return keras.models.load_model(path)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise EdgeDigitsError(f"{path}: not a loadable Keras model ({type(exc).__name__})") from None


def _own_input_spec(path: Path) -> InputSpec:
    quant = load_classifier(path).input_quant
    return InputSpec(str(quant.dtype), quant.scale, quant.zero_point) if quant.quantized else InputSpec(str(quant.dtype))


def predicted_classes(path: Path, split: Split) -> np.ndarray:
    return predict_all(load_classifier(path), split.images).argmax(axis=1)


@dataclass
class Tried:
    """One ONNX int8 recipe, made and measured by pick_fastest_onnx."""
    model: bytes
    input: InputSpec
    drop_pp: float
    classifier: Classifier
    frame_us: float = 0.0


def pick_fastest_onnx(float_onnx: bytes, calibration: np.ndarray, check: Split, options: ConvertOptions) -> Built:
    """Every ONNX int8 form, type and weight granularity, timed side by side on a frame's crops (how the live
    reader calls a model); the fastest within the accuracy budget wins."""
    import tempfile
    candidates = [replace(options.onnx, form=form, types=types, per_channel=per_channel)
                  for form in ("qdq", "qoperator") for types in ("u8s8", "s8s8") for per_channel in (True, False)]
    with tempfile.TemporaryDirectory() as tmp:
        float_path = Path(tmp) / "float.onnx"
        float_path.write_bytes(float_onnx)
        float_predicted = predicted_classes(float_path, check)
        tried = {}
        for recipe in candidates:
            model_bytes, spec = to_onnx_int8(float_onnx, calibration, recipe)
            path = Path(tmp) / f"{recipe.name}.onnx"
            path.write_bytes(model_bytes)
            drop = against_float(predicted_classes(path, check), float_predicted, check.labels).drop_pp
            tried[recipe] = Tried(model_bytes, spec, drop, load_classifier(path))
        timings = interleaved_latency_us({r: t.classifier for r, t in tried.items()}, check.images[:FRAME_CROPS],
                                         5, 25)
    notes = []
    for recipe, result in tried.items():
        result.frame_us = float(np.median(timings[recipe]))
        notes.append(f"onnx {recipe.name}: {result.frame_us:.0f} µs a frame ({FRAME_CROPS} crops), "
                     f"drop {result.drop_pp:+.2f} pp{'' if result.drop_pp <= options.budget_pp else ' (over budget)'}")
    within = [r for r in tried if tried[r].drop_pp <= options.budget_pp]
    if not within:
        raise EdgeDigitsError(f"no ONNX int8 recipe stays within the {options.budget_pp} pp accuracy budget")
    best = min(within, key=lambda r: tried[r].frame_us)
    return Built(tried[best].model, tried[best].input, best.name, (*notes, f"picked {best.name}"))


def tpu_model(model: keras.Model, calibration: np.ndarray) -> bytes:
    """Full int8 with uint8 in/out and a static batch of 1: the Edge TPU compiler rejects dynamic shapes."""
    inputs = keras.Input(model.input_shape[1:], batch_size=1)
    return to_tflite(keras.Model(inputs, model(inputs), name=model.name), "uint8", calibration)


def _builders(model: keras.Model, calibration: np.ndarray, data: Dataset, options: ConvertOptions,
              ) -> dict[tuple[str, str, str | None], Builder]:
    """How each (format, precision, variant) of the targets table's exports is made."""
    def onnx_int8(float_onnx: bytes) -> Built:
        if options.pick_fastest:
            # Picking is measured on train images the model has seen, never on the test split.
            return pick_fastest_onnx(float_onnx, calibration, data.train.head(5000), options)
        return Built(*to_onnx_int8(float_onnx, calibration, options.onnx.validated()), options.onnx.name)

    builders: dict[tuple[str, str, str | None], Builder] = {
        ("tflite", p, None): lambda _, p=p: Built(to_tflite(model, p, calibration)) for p in TFLITE_PRECISIONS}
    builders[("onnx", "float32", None)] = lambda _: Built(to_onnx_float(model))
    builders[("onnx", "int8", None)] = onnx_int8
    float_first = replace(options.onnx.validated(), float_first=True)
    builders[("onnx", "int8", targets.FLOAT_FIRST)] = lambda float_onnx: Built(
        *to_onnx_int8(float_onnx, calibration, float_first), float_first.name)
    builders[("tflite", "uint8", "edgetpu-static")] = lambda _: Built(tpu_model(model, calibration),
                                                                      variant="edgetpu-static")
    return builders


def _build(export: Export, builders: dict, made: dict[str, bytes]) -> Built:
    """One export's model, any converter failure one line. A variant with no builder of its own is made as its
    format and precision are, and named by its variant."""
    if export.source is not None and export.source not in made:
        raise EdgeDigitsError(f"made from {export.source}, which failed")
    own = builders.get((export.format, export.precision, export.variant))
    make = own or builders.get((export.format, export.precision, None))
    if make is None:
        raise EdgeDigitsError(f"no converter makes {export.format} {export.precision}")
    try:
        with silenced():  # the converters print pages of graph dumps and notices
            built = make(made.get(export.source))
        return built if own else replace(built, variant=export.variant)
    except EdgeDigitsError:
        raise
    except Exception as exc:  # converters raise anything from ValueError to bare RuntimeErrors
        message = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
        raise EdgeDigitsError(f"conversion failed ({message[0][:300]})") from None


def _export_row(run_dir: Path, export: Export, builders: dict, made: dict[str, bytes], test: Split,
                ) -> tuple[Artifact, np.ndarray]:
    """Build, write and score one export: its manifest entry and its test-split predictions."""
    built = _build(export, builders, made)
    for note in built.notes:
        print(f"convert: {note}")
    write_atomic(run_dir / export.path, built.model)
    made[export.path] = built.model
    predicted = predicted_classes(run_dir / export.path, test)
    artifact = Artifact.of_file(run_dir, export.path, export.format, export.precision,
                                built.input or _own_input_spec(run_dir / export.path),
                                float(np.mean(predicted == test.labels)), built.variant)
    return artifact, predicted


def _edgetpu(run_dir: Path, manifest: Manifest) -> None:
    """The Edge TPU model's op-by-op check and, where edgetpu_compiler is installed, its compiled twin."""
    checks = format_checks(check_ops(run_dir / EDGETPU_MODEL))
    compiled = compile_for_edgetpu(run_dir / EDGETPU_MODEL)
    write_atomic(run_dir / "edgetpu.md", f"{checks}\n\n{compiled}\n")
    print(checks, compiled, sep="\n\n")
    binary = run_dir / EDGETPU_COMPILED
    if binary.exists():  # only edgetpu_compiler writes it; a CPU cannot run it, so no accuracy here
        static = next(a for a in manifest.artifacts if a.path == EDGETPU_MODEL)
        manifest.artifacts.append(Artifact.of_file(run_dir, binary.name, "tflite", "uint8", static.input,
                                                   variant="edgetpu-compiled"))


def convert(run_dir: Path, data: Dataset, options: ConvertOptions = ConvertOptions()) -> Manifest:
    """Write every artifact beside model.keras, each scored once on the test split, plus the reports. An export
    that fails is a row of the manifest's `failed` and the others go on; the manifest lists what succeeded."""
    run_dir = Path(run_dir)
    if options.target not in ("all", "edgetpu"):
        raise EdgeDigitsError(f"unknown --target {options.target!r}; choose all or edgetpu")
    model = load_run_model(run_dir)
    calibration = load_calibration(options.calibration_dir)
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    manifest = Manifest(model=metrics.get("model", model.name), classes=metrics.get("classes", list(CLASSES)))
    manifest.artifacts.append(Artifact.of_file(run_dir, "model.keras", "keras", "float32", InputSpec("float32"),
                                               metrics.get("test_accuracy")))
    made, predictions = {}, {}
    builders = _builders(model, calibration, data, options)
    for export in (e for e in targets.EXPORTS if e.only_for in (None, options.target)):
        print(f"convert: {export.path} ...", flush=True)
        try:
            artifact, predictions[export.path] = _export_row(run_dir, export, builders, made, data.test)
        except NotApplicable as exc:
            print(f"convert: {export.path}: not made ({exc})", flush=True)
            continue
        except EdgeDigitsError as exc:
            manifest.failed.append({"path": export.path, "format": export.format, "precision": export.precision,
                                    "status": f"failed: {exc}"})
            print(f"convert: {export.path}: FAILED: {exc}", flush=True)
            continue
        manifest.artifacts.append(artifact)
        print(f"convert: {export.path}: {artifact.test_accuracy:.2%} test accuracy", flush=True)
    if options.target == "edgetpu" and EDGETPU_MODEL in made:
        _edgetpu(run_dir, manifest)
    manifest.save(run_dir)
    if options.report and manifest.find(*REFERENCE):
        print("convert: quantization report ...", flush=True)
        write_quantization_report(run_dir, calibration, data.test, predictions)
        print(f"convert: wrote {run_dir / 'quantization.md'}")
    return manifest
