"""quantization.md (+ .json and PNGs): what int8 costs, per artifact and per layer. Needs no TensorFlow."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgedigits.agreement import against_float
from edgedigits.data import Split
from edgedigits.device.runtime import (TensorQuant, inspecting_interpreter, load_artifact, model_ops, predict_all,
                                       to_model_input)
from edgedigits.manifest import Manifest, write_atomic
from edgedigits.tables import markdown_table
from edgedigits.targets import REFERENCE
from edgedigits.train.plots import plot_grid, save_figure



@dataclass
class ArtifactFigures:
    path: str
    format: str
    precision: str
    variant: str | None
    kb: float
    size_ratio: float  # to the float32 artifact of the same format
    accuracy: float
    drop_pp: float  # against the float reference, in percentage points
    agreement: float  # top-1 agreement with the float reference
    disagreements: dict[str, int]  # "float→quantized" label pairs


@dataclass
class LayerError:
    tensor: str
    op: str
    sqnr_db: float  # signal (float activations) to quantization noise ratio; low is bad
    nrmse: float  # RMS error over the float activations' RMS


def layer_errors(float_path: Path, int8_path: Path, calibration: np.ndarray) -> list[LayerError]:
    """Per-op-output error of the full-int8 TFLite model against the float one on the calibration set,
    worst first. The two conversions name their tensors alike, which pairs them."""
    float_model, int8_model = (inspecting_interpreter(p, keep_tensors=True) for p in (float_path, int8_path))
    float_tensors = {t["name"]: t for t in float_model.get_tensor_details()}
    int8_tensors = {t["index"]: t for t in int8_model.get_tensor_details()}
    pairs = []  # (name, op, float index, int8 index, scale, zero point)
    for op in model_ops(int8_model):
        for index in op["outputs"]:
            tensor = int8_tensors[int(index)]
            twin = float_tensors.get(tensor["name"])
            scale, zero_point = tensor["quantization"]
            if twin is not None and scale and np.issubdtype(twin["dtype"], np.floating):
                pairs.append((tensor["name"], op["op_name"], twin["index"], tensor["index"], scale, zero_point))
    signal, noise = np.zeros(len(pairs)), np.zeros(len(pairs))
    float_input, int8_input = float_model.get_input_details()[0], int8_model.get_input_details()[0]
    int8_quant = TensorQuant(np.dtype(int8_input["dtype"]), *int8_input["quantization"])
    for image in calibration:
        float_model.set_tensor(float_input["index"], to_model_input(image[None], TensorQuant(np.dtype(np.float32))))
        int8_model.set_tensor(int8_input["index"], to_model_input(image[None], int8_quant))
        float_model.invoke()
        int8_model.invoke()
        for i, (_, _, float_index, int8_index, scale, zero_point) in enumerate(pairs):
            reference = float_model.get_tensor(float_index).astype(np.float64)
            dequantized = (int8_model.get_tensor(int8_index).astype(np.float64) - zero_point) * scale
            signal[i] += (reference ** 2).sum()
            noise[i] += ((reference - dequantized) ** 2).sum()
    errors = [LayerError(name, op, float(10 * np.log10(max(s, 1e-30) / max(n, 1e-30))), float(np.sqrt(n / max(s, 1e-30))))
              for (name, op, *_), s, n in zip(pairs, signal, noise)]
    return sorted(errors, key=lambda e: e.sqnr_db)


def artifact_figures(export_dir: Path, manifest: Manifest, test: Split, predictions: dict | None = None,
                     ) -> tuple[list[ArtifactFigures], dict]:
    """Accuracy, drop, agreement and size of every runtime artifact, and their test-split predictions (those
    given are not computed again)."""
    predictions = dict(predictions or {})
    for artifact in manifest.artifacts:
        if artifact.format in ("tflite", "onnx") and artifact.path not in predictions:
            classifier = load_artifact(export_dir, manifest, artifact)
            predictions[artifact.path] = predict_all(classifier, test.images).argmax(axis=1)
    reference = manifest.find(*REFERENCE)
    float_pred = predictions[reference.path]
    figures = []
    for artifact in manifest.artifacts:
        if artifact.path not in predictions:
            continue
        twin = manifest.find(artifact.format, "float32")
        pred = predictions[artifact.path]
        pairs = Counter(f"{f}→{q}" for f, q in zip(float_pred[pred != float_pred], pred[pred != float_pred]))
        compared = against_float(pred, float_pred, test.labels)
        figures.append(ArtifactFigures(
            artifact.path, artifact.format, artifact.precision, artifact.variant, round(artifact.bytes / 1024, 1),
            round(artifact.bytes / twin.bytes, 4), compared.accuracy, round(compared.drop_pp, 4),
            compared.agreement, dict(pairs.most_common())))
    return figures, predictions


def write_quantization_report(export_dir: Path, calibration: np.ndarray, test: Split,
                              predictions: dict | None = None) -> dict:
    """Write quantization.md, quantization.json and its PNGs; return the JSON figures. `predictions`: the
    test-split classes convert already has, by artifact path."""
    export_dir = Path(export_dir)
    manifest = Manifest.load(export_dir)
    figures, predictions = artifact_figures(export_dir, manifest, test, predictions)
    float_pred = predictions[manifest.find(*REFERENCE).path]
    int8 = manifest.find("tflite", "int8")
    layers = layer_errors(export_dir / manifest.find(*REFERENCE).path, export_dir / int8.path, calibration) if int8 else []
    differ = np.flatnonzero(predictions[int8.path] != float_pred)[:30] if int8 else np.array([], int)
    if len(differ):
        plot_grid(test.images[differ],
                  [f"f{float_pred[i]} q{predictions[int8.path][i]} (t{test.labels[i]})" for i in differ],
                  "test images where int8 TFLite and float disagree (float, quantized, true)",
                  export_dir / "quant_disagreements.png")
    _plot_layers(layers, export_dir / "quant_layers.png")
    report = {"model": manifest.model, "test_images": len(test), "artifacts": [asdict(f) for f in figures],
              "failed": manifest.failed, "layers": [asdict(layer) for layer in layers]}
    write_atomic(export_dir / "quantization.json", json.dumps(report, indent=2) + "\n")
    write_atomic(export_dir / "quantization.md", _markdown(report, bool(len(differ))))
    return report


def _plot_layers(layers: list[LayerError], path: Path) -> None:
    import matplotlib.pyplot as plt
    shown = layers[:20]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(shown) + 1.2))
    ax.barh([f"{e.op} {e.tensor.split(';')[0][-40:]}" for e in shown][::-1], [e.sqnr_db for e in shown][::-1])
    ax.set(xlabel="SQNR dB (higher is better)", title="per-tensor int8 error on the calibration set, worst first")
    ax.tick_params(axis="y", labelsize=7)
    save_figure(fig, path)


NUMBERS = ["size KB", "× float size", "accuracy", "drop pp", "agreement"]  # the report's right-aligned columns


def _markdown(report: dict, has_disagreement_images: bool) -> str:
    lines = [f"# Quantization report: {report['model']}", "",
             f"Accuracy on the full {report['test_images']:,}-image test split; drop and agreement against the "
             "float32 TFLite model; size against the float32 artifact of the same format.", "",
             markdown_table(["artifact", "precision", "variant", *NUMBERS, "float→quantized disagreements"], [
                 *([a["path"], a["precision"], a["variant"] or "—", f"{a['kb']:.1f}", f"{a['size_ratio']:.2f}",
                    f"{a['accuracy']:.2%}", f"{a['drop_pp']:+.2f}", f"{a['agreement']:.2%}",
                    ", ".join(f"{k}: {v}" for k, v in list(a["disagreements"].items())[:8]) or "—"]
                   for a in report["artifacts"]),
                 *([f["path"], f["precision"], "—", "", "", f["status"], "", "", ""] for f in report["failed"])],
                 right=NUMBERS)]
    if has_disagreement_images:
        lines += ["", "![disagreements](quant_disagreements.png)"]
    lines += ["", "## Per-layer error of full int8 (TFLite), worst first", "",
              "SQNR: float activations' power over the power of (float − dequantized int8), on the calibration set.",
              "",
              # TFLite names a fused op's output after every op it fused; the first one names the layer.
              markdown_table(["tensor", "op", "SQNR dB", "NRMSE"],
                             ([e["tensor"].split(";")[0], e["op"], f"{e['sqnr_db']:.1f}", f"{e['nrmse']:.4f}"]
                              for e in report["layers"]), right={"SQNR dB", "NRMSE"})]
    lines += ["", "![per-layer error](quant_layers.png)", ""]
    return "\n".join(lines)
