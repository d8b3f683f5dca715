"""The targets table: what convert writes, what a device runs and on which accelerator, and which model is the
float reference.

convert writes the EXPORTS and describes them in the manifest; from there on every stage asks this table which of
them to bundle (`bundle --target`), to load (`run`, `serve`, `verify`) and to compare against (`bench`, the
quantization report, `verify`). A new device target is one row of DEVICES (and of EXPORTS, for a model not made
yet); a new accelerator one entry of runtime.DELEGATES.
"""
from __future__ import annotations

from dataclasses import dataclass

from edgedigits import EdgeDigitsError
from edgedigits.manifest import Artifact, Manifest

REFERENCE = ("tflite", "float32")  # (format, precision) of the float model every quantized one is compared with
RUNTIME_FORMATS = ("tflite", "onnx")  # what the device's runtimes load (Keras models stay on the workstation)
AUTO = "auto"  # as an accelerator: the one the model's device target names
EDGETPU_LIBRARY = "libedgetpu.so.1"  # the Edge TPU's runtime library (Coral's libedgetpu1-std package)
FLOAT_FIRST = "float-first-conv"  # int8 ONNX whose first convolution stays float: faster on some CPUs, not on all


@dataclass(frozen=True)
class Model:
    """One kind of artifact in a manifest: format, precision and, where a format has several recipes, variant."""
    format: str
    precision: str
    variant: str | None = None  # None: any
    accelerator: str | None = None  # None: any CPU runs it; else only that accelerator does

    def matches(self, artifact: Artifact) -> bool:
        return (artifact.format, artifact.precision) == (self.format, self.precision) and \
            self.variant in (None, artifact.variant)


@dataclass(frozen=True)
class Export:
    """A file convert writes: its name, and the format, precision and variant its Model matches."""
    path: str
    format: str
    precision: str
    variant: str | None = None  # a second recipe of a format and precision (convert makes it with the first's)
    source: str | None = None  # the export it is made from (int8 ONNX quantizes the float ONNX)
    only_for: str | None = None  # made only for `convert --target` this (the Edge TPU's static model)


EXPORTS = (
    *(Export(f"model_{precision}.tflite", "tflite", precision)
      for precision in ("float32", "float16", "dynamic", "int8", "uint8")),
    Export("model_float32.onnx", "onnx", "float32"),
    Export("model_int8.onnx", "onnx", "int8", source="model_float32.onnx"),
    Export("model_int8_float_first.onnx", "onnx", "int8", FLOAT_FIRST, source="model_float32.onnx"),
    Export("model_tpu.tflite", "tflite", "uint8", "edgetpu-static", only_for="edgetpu"),
)


@dataclass(frozen=True)
class Device:
    """A device target: the models it runs, preferred first, and the accelerator it runs them on."""
    name: str
    models: tuple[Model, ...]
    accelerator: str | None = None
    describe: str = ""
    twin: Model | None = None  # the float model of the runtime's own format, when it is not the reference's


DEVICES = {device.name: device for device in (
    Device("pi", (Model("tflite", "int8"), Model("tflite", "uint8")), describe="int8 TFLite"),
    Device("coral", (Model("tflite", "uint8", "edgetpu-compiled", accelerator="edgetpu"),
                     Model("tflite", "uint8", "edgetpu-static")), accelerator="edgetpu", describe="the Edge TPU model"),
    Device("onnx", (Model("onnx", "int8"),), describe="int8 ONNX", twin=Model("onnx", "float32")),
)}
# What `run` and `serve` load from an export folder that is no device's release, preferred first.
LIVE = (Model("tflite", "int8"), Model("tflite", "float32"), Model("onnx", "int8"), Model("onnx", "float32"))


def device(name: str) -> Device:
    if name not in DEVICES:
        raise EdgeDigitsError(f"unknown target {name!r}; choose from {', '.join(DEVICES)}")
    return DEVICES[name]


def first(manifest: Manifest, models: tuple[Model, ...], accelerator: str | None = AUTO) -> Artifact | None:
    """The manifest's artifact of the first model listed that runs with `accelerator` (AUTO: any)."""
    return next(iter(matching(manifest, models, accelerator)), None)


def matching(manifest: Manifest, models: tuple[Model, ...], accelerator: str | None = AUTO) -> list[Artifact]:
    """Every artifact of the manifest that one of the models (in their order) describes and that runs with
    `accelerator` (AUTO: any)."""
    found: list[Artifact] = []
    for model in models:
        if accelerator == AUTO or model.accelerator in (None, accelerator):
            found += [a for a in manifest.artifacts if model.matches(a) and a not in found]
    return found


def bundled_variants(manifest: Manifest, accelerator: str | None) -> list[Artifact]:
    """The models a bundle carries for its target that run with `accelerator`, preferred first: the device
    measures them and runs the fastest that keeps within the budget."""
    carried = manifest.bundle.get("variants") or [manifest.bundle["runtime_artifact"]]
    return [a for a in matching(manifest, device(manifest.bundle["target"]).models, accelerator) if a.path in carried]


def bundled_model(manifest: Manifest, accelerator: str | None = AUTO) -> tuple[Artifact, str | None]:
    """A device bundle's (or release's) model and the accelerator to run it on: its target's own (AUTO), or
    the model of its target that runs on the one asked for (None: the CPU twin of an Edge TPU model)."""
    target = device(manifest.bundle["target"])
    wanted = target.accelerator if accelerator == AUTO else accelerator
    runtime = next((a for a in manifest.artifacts if a.path == manifest.bundle["runtime_artifact"]), None)
    chosen = runtime if wanted == target.accelerator else first(manifest, target.models, wanted)
    if chosen is None:
        raise EdgeDigitsError(f"the {target.name} bundle holds no model that runs "
                              + (f"on the {wanted}" if wanted else "without its accelerator"))
    return chosen, wanted
