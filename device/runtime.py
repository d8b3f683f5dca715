"""One small adapter per runtime (LiteRT / tflite-runtime, ONNX Runtime) behind load_classifier()."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgedigits import EdgeDigitsError, first_line
from edgedigits.manifest import PIXEL_SCALE, Artifact, Manifest
from edgedigits.quiet import silenced
from edgedigits.targets import EDGETPU_LIBRARY


@dataclass(frozen=True)
class TensorQuant:
    """A tensor's dtype and affine quantization (real = scale * (q - zero_point)); scale 0 means float."""
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)


@functools.lru_cache(maxsize=16)
def _pixel_table(quant: TensorQuant) -> np.ndarray:
    """What each of the 256 pixel values becomes in a model's input tensor."""
    real = np.arange(256, dtype=np.float32) * PIXEL_SCALE
    if quant.quantized:
        info = np.iinfo(quant.dtype)
        real = np.clip(np.round(real / quant.scale + quant.zero_point), info.min, info.max)
    return real.astype(quant.dtype)


def to_model_input(images: np.ndarray, quant: TensorQuant) -> np.ndarray:
    """uint8 (N, 28, 28) pixels to what a model's (N, 28, 28, 1) input tensor holds (a table lookup instead
    of scaling, rounding and clipping every frame; OpenCV's is 3x faster than numpy's indexing)."""
    images = np.ascontiguousarray(images, np.uint8)
    return cv2.LUT(images.reshape(-1, images.shape[-1]), _pixel_table(quant)).reshape(*images.shape, 1)


def from_model_output(raw: np.ndarray, quant: TensorQuant) -> np.ndarray:
    if quant.quantized:
        return (raw.astype(np.float32) - quant.zero_point) * quant.scale
    return raw.astype(np.float32)


class Classifier:
    """A loaded model: predict() maps uint8 (N, 28, 28) digits to class scores (N, classes)."""
    runtime = ""
    classes = 0  # size of the output
    input_quant: TensorQuant
    output_quant: TensorQuant

    def run(self, batch: np.ndarray) -> np.ndarray:
        """One raw inference call on an already prepared input batch."""
        raise NotImplementedError

    def prepare(self, images: np.ndarray) -> np.ndarray:
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"input shape={images.shape}, expected=(N, 28, 28)")
        return to_model_input(images, self.input_quant)

    def predict(self, images: np.ndarray) -> np.ndarray:
        return from_model_output(self.run(self.prepare(images)), self.output_quant)


def tflite_interpreter_module():
    """LiteRT's interpreter module, or tflite-runtime's on numpy < 2 systems such as Raspberry Pi OS Bookworm."""
    try:
        from ai_edge_litert import interpreter
        return interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter
        return interpreter
    except ImportError:
        raise EdgeDigitsError("no TFLite runtime: pip install ai-edge-litert (or tflite-runtime)") from None


def available_runtimes() -> list[str]:
    """The runtimes importable here, and the Edge TPU library when it loads."""
    import ctypes
    import importlib.util
    found = [name for name, module in (("litert", "ai_edge_litert"), ("tflite_runtime", "tflite_runtime"),
                                       ("onnxruntime", "onnxruntime")) if importlib.util.find_spec(module)]
    try:
        ctypes.CDLL(EDGETPU_LIBRARY)
        found.append("edgetpu")
    except OSError:
        pass
    return found


def tflite_interpreter_class():
    module = tflite_interpreter_module()
    return module.Interpreter, "litert" if module.__name__.startswith("ai_edge_litert") else "tflite_runtime"


def inspecting_interpreter(path: Path, keep_tensors: bool = False):
    """A TFLite interpreter whose ops can be listed (`model_ops`): no delegate, which would fold the graph into
    opaque DELEGATE nodes; with `keep_tensors`, every intermediate tensor stays readable after invoke()."""
    module = tflite_interpreter_module()
    with silenced():
        interpreter = module.Interpreter(model_path=str(path), experimental_preserve_all_tensors=keep_tensors,
                                         experimental_op_resolver_type=module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    return interpreter


def model_ops(interpreter) -> list[dict]:
    """Each op: index, op_name, inputs, outputs. A private call, but the only op listing LiteRT's Python has."""
    return interpreter._get_ops_details()


def _tensor_quant(detail: dict) -> TensorQuant:
    scale, zero_point = detail["quantization"]
    return TensorQuant(np.dtype(detail["dtype"]), float(scale), int(zero_point))


def edgetpu_delegate():
    """The Edge TPU delegate (pycoral's make_interpreter does the same), or one line saying what is missing."""
    import ctypes
    try:
        ctypes.CDLL(EDGETPU_LIBRARY)  # LiteRT's Delegate prints a stray traceback when the library is missing
        return tflite_interpreter_module().load_delegate(EDGETPU_LIBRARY)
    except (ValueError, OSError, RuntimeError) as exc:
        raise EdgeDigitsError(f"Edge TPU not usable ({first_line(exc)}): install libedgetpu1-std from Coral's "
                              "package feed and plug in the Coral device") from None


# The accelerators a TFLite model can run on, each by its delegate; None is the CPU.
DELEGATES = {"edgetpu": edgetpu_delegate}


class TFLiteClassifier(Classifier):
    def __init__(self, path: Path, threads: int = 1, accelerator: str | None = None):
        interpreter_class, self.runtime = tflite_interpreter_class()
        delegates = None
        if accelerator is not None:
            if accelerator not in DELEGATES:
                raise EdgeDigitsError(f"unknown accelerator {accelerator!r}; known: {', '.join(DELEGATES)}")
            delegates = [DELEGATES[accelerator]()]
            self.runtime += f"+{accelerator}"
        try:
            with silenced():  # LiteRT announces its XNNPACK delegate on stderr for every model
                self.interpreter = interpreter_class(model_path=str(path), num_threads=threads,
                                                     experimental_delegates=delegates)
                self.interpreter.allocate_tensors()
        except Exception as exc:  # the runtimes raise ValueError or RuntimeError with a multi-line text
            raise EdgeDigitsError(f"{path}: not a loadable TFLite model ({first_line(exc)})") from None
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self.input_quant, self.output_quant = _tensor_quant(self._input), _tensor_quant(self._output)
        self._batch = int(self._input["shape"][0])
        self.classes = int(self._output["shape"][-1])
        # Static-shape models (Edge TPU ones) take their fixed batch only.
        self._resizable = int(self._input["shape_signature"][0]) < 0

    def run(self, batch: np.ndarray) -> np.ndarray:
        if not self._resizable and len(batch) != self._batch:
            return np.concatenate([self.run(batch[i:i + self._batch]) for i in range(0, len(batch), self._batch)])
        if len(batch) != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], batch.shape)
            self.interpreter.allocate_tensors()
            self._batch = len(batch)
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"])


ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


class OnnxClassifier(Classifier):
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int = 1, input_quant: TensorQuant | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise EdgeDigitsError("ONNX Runtime is not installed: pip install onnxruntime") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own pybind exception types
            raise EdgeDigitsError(f"{path}: not a loadable ONNX model ({first_line(exc)})") from None
        model_input = self.session.get_inputs()[0]
        self._input_name = model_input.name
        self.classes = int(self.session.get_outputs()[0].shape[-1])
        dtype = np.dtype(ONNX_DTYPES.get(model_input.type, np.float32))
        self.input_quant = TensorQuant(dtype)
        if dtype != np.float32:
            meta = self.session.get_modelmeta().custom_metadata_map
            if input_quant is not None:
                self.input_quant = input_quant
            elif "input_scale" in meta:
                self.input_quant = TensorQuant(dtype, float(meta["input_scale"]), int(meta["input_zero_point"]))
            else:
                raise EdgeDigitsError(f"{path}: {dtype.name} input without its scale and zero point")
        self.output_quant = TensorQuant(np.dtype(np.float32))

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input_name: batch})[0]


def load_classifier(path: Path, threads: int = 1, input_quant: TensorQuant | None = None,
                    accelerator: str | None = None) -> Classifier:
    """Load a .tflite or .onnx model with the runtime that fits it, on an accelerator's delegate if one is named."""
    path = Path(path)
    if not path.is_file():
        raise EdgeDigitsError(f"{path}: model file not found")
    if path.suffix == ".tflite":
        return TFLiteClassifier(path, threads, accelerator)
    if accelerator is not None:
        raise EdgeDigitsError(f"{path}: the {accelerator} runs TFLite models only")
    if path.suffix == ".onnx":
        return OnnxClassifier(path, threads, input_quant)
    raise EdgeDigitsError(f"{path}: unknown model format {path.suffix!r}, expected .tflite or .onnx")


def load_artifact(directory: Path, manifest: Manifest, artifact: Artifact, threads: int = 1,
                  accelerator: str | None = None) -> Classifier:
    """An export's artifact, its sha256 checked against the manifest, with the manifest's input quantization."""
    path = manifest.verify(directory, artifact)
    if not math.isclose(float(manifest.input.get("scale", PIXEL_SCALE)), PIXEL_SCALE, rel_tol=1e-6):
        raise EdgeDigitsError(f"{path}: the manifest's pixel scale {manifest.input.get('scale')!r} is not 1/255, "
                              "the only one this version reads")
    spec = artifact.input
    try:
        quant = TensorQuant(np.dtype(spec.dtype), float(spec.scale or 0.0), int(spec.zero_point or 0))
    except (TypeError, ValueError):
        raise EdgeDigitsError(f"{path}: the manifest's input {spec} is not a dtype, scale and zero point") from None
    return check_classes(load_classifier(path, threads, quant, accelerator), manifest.classes, path)


def check_classes(classifier: Classifier, classes: list[str], path: Path) -> Classifier:
    """The classifier, once its output is known to hold one score per class name."""
    if classifier.classes != len(classes):
        raise EdgeDigitsError(f"{path}: the model has {classifier.classes} outputs, its manifest "
                              f"{len(classes)} classes")
    return classifier


def predict_all(classifier: Classifier, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Class scores for any number of images, in batches."""
    return np.concatenate([classifier.predict(images[i:i + batch_size])
                           for i in range(0, len(images), batch_size)])
