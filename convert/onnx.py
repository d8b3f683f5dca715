"""Keras model to ONNX: float32 through tf2onnx, static int8 through ONNX Runtime's quantizer."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import onnx
import tensorflow as tf
import tf2onnx
from onnx import TensorProto, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quant_pre_process, quantize_static)

from edgedigits import EdgeDigitsError, NotApplicable
from edgedigits.manifest import InputSpec, to_input

OPSET = 17
INPUT_NAME = "input"
FORMATS = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}
ACTIVATIONS = {"u8s8": QuantType.QUInt8, "s8s8": QuantType.QInt8}  # weights are int8 in both
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}


@dataclass(frozen=True)
class OnnxQuant:
    """One static-int8 recipe: graph form, activation/weight types, calibration method, weight granularity."""
    form: str = "qdq"
    types: str = "u8s8"
    method: str = "minmax"
    per_channel: bool = True  # per-tensor weights requantize more cheaply; per-channel ones are more exact
    # The convolution of the one-channel input kept in float: ONNX Runtime's int8 kernels convolve a single input
    # channel slower than its float ones (x86, AVX-512), and that one layer outweighed every other int8 gain.
    float_first: bool = False

    @property
    def name(self) -> str:
        return (f"{self.form}-{self.types}-{self.method}-{'per-channel' if self.per_channel else 'per-tensor'}"
                + ("-float-first" if self.float_first else ""))

    def validated(self) -> "OnnxQuant":
        for value, known, what in ((self.form, FORMATS, "form"), (self.types, ACTIVATIONS, "types"),
                                   (self.method, METHODS, "calibration method")):
            if value not in known:
                raise EdgeDigitsError(f"unknown ONNX quantization {what} {value!r}; choose from {', '.join(known)}")
        return self


def to_onnx_float(model: keras.Model) -> bytes:
    """Float32 ONNX with a dynamic batch axis (tf2onnx's from_keras fails on Keras 3; from_function works)."""
    signature = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME),)
    function = tf.function(lambda x: model(x, training=False), input_signature=signature)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=OPSET)
    return constant_flatten(proto).SerializeToString()


def _prune(graph: onnx.GraphProto) -> None:
    """Remove nodes and initializers nothing uses any more."""
    outputs = {o.name for o in graph.output}
    while dead := [n for n in graph.node if not set(n.output) & ({i for m in graph.node for i in m.input} | outputs)]:
        for node in dead:
            graph.node.remove(node)
    used = {i for n in graph.node for i in n.input}
    for initializer in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(initializer)


def constant_flatten(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give Flatten's Reshape a constant [-1, features] target.

    tf2onnx computes it per call from the input's shape (Shape, Gather, Cast, Slice, Concat): six tiny
    kernels, about 10 µs of every single-image call. Kept only if the outputs stay the same."""
    import onnxruntime as ort
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {v.name: v.type.tensor_type.shape.dim for v in inferred.graph.value_info}
    constants = {i.name for i in model.graph.initializer}
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    changed = False
    for node in rewritten.graph.node:
        source, target = known.get(node.input[0]), known.get(node.output[0])
        if node.op_type != "Reshape" or node.input[1] in constants or not source or not target or len(target) != 2:
            continue
        features = [d.dim_value for d in source[1:]]
        if all(features):
            name = f"{node.output[0]}_constant_shape"
            rewritten.graph.initializer.append(numpy_helper.from_array(np.array([-1, np.prod(features)], np.int64), name))
            node.input[1] = name
            changed = True
    if not changed:
        return model
    _prune(rewritten.graph)
    probe = np.random.default_rng(0).random((3, *[d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]), np.float32)
    before, after = (ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
                     .run(None, {INPUT_NAME: probe})[0] for m in (model, rewritten))
    return rewritten if np.allclose(before, after, atol=1e-6) else model


class _Reader(CalibrationDataReader):
    def __init__(self, calibration: np.ndarray):
        self._batches = iter(to_input(calibration[i:i + 1]) for i in range(len(calibration)))

    def get_next(self):
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


LAYOUT_OPS = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity"}  # move values, work on any dtype


def _past_layout(graph: onnx.GraphProto, op_type: str) -> onnx.NodeProto | None:
    """The node of `op_type` that the graph input reaches through layout ops only, if there is one."""
    tensor = graph.input[0].name
    while len(consumers := [n for n in graph.node if tensor in n.input]) == 1:
        if consumers[0].op_type == op_type:
            return consumers[0]
        if consumers[0].op_type not in LAYOUT_OPS:
            return None
        tensor = consumers[0].output[0]
    return None


def integer_input(model_bytes: bytes) -> tuple[bytes, InputSpec]:
    """Drop the QuantizeLinear after the graph input (and its layout ops) so the model takes integer pixels.

    The input's calibrated range is [0, 1], so for uint8 the scale is 1/255 and the zero point 0: the
    camera's pixel bytes are the quantized input, and a per-call float quantize disappears."""
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    source = graph.input[0]
    quantize = _past_layout(graph, "QuantizeLinear")
    if quantize is None:
        return model_bytes, InputSpec("float32")
    initializers = {i.name: i for i in graph.initializer}
    scale = float(numpy_helper.to_array(initializers[quantize.input[1]]))
    zero_point = numpy_helper.to_array(initializers[quantize.input[2]])
    for node in graph.node:
        node.input[:] = [quantize.input[0] if name == quantize.output[0] else name for name in node.input]
    graph.node.remove(quantize)
    source.type.tensor_type.elem_type = TensorProto.UINT8 if zero_point.dtype == np.uint8 else TensorProto.INT8
    # The layout ops' outputs were typed float by shape inference; let ONNX Runtime infer them afresh.
    del graph.value_info[:]
    # ONNX Runtime shows metadata but not initializers, so a bare model file still tells its input quantization.
    onnx.helper.set_model_props(model, {"input_scale": repr(scale), "input_zero_point": str(int(zero_point))})
    onnx.checker.check_model(model)
    return model.SerializeToString(), InputSpec(str(zero_point.dtype), scale, int(zero_point))


def first_convolution(model: onnx.ModelProto) -> str:
    """The name of the Conv node the graph input reaches through layout ops only."""
    convolution = _past_layout(model.graph, "Conv")
    if convolution is None:
        raise NotApplicable("the model's input goes to no convolution first")
    return convolution.name


def to_onnx_int8(float_model: bytes, calibration: np.ndarray, recipe: OnnxQuant = OnnxQuant()) -> tuple[bytes, InputSpec]:
    """Static int8 ONNX (per-channel int8 weights) taking integer pixels (float ones when the first convolution
    stays float), and its input spec. Weights next to uint8 activations keep 7 bits: x86 CPUs without VNNI
    multiply u8 by s8 in 16-bit sums that saturate (ONNX Runtime's quantization guide), and the model then
    agrees with float less on them than elsewhere (conv_net, 10,000 test images, AVX2 AMD EPYC: 0.9964, with
    7-bit weights 0.9996)."""
    recipe.validated()
    with tempfile.TemporaryDirectory() as tmp:
        source, prepared, quantized = (Path(tmp) / n for n in ("float.onnx", "prepared.onnx", "int8.onnx"))
        source.write_bytes(float_model)
        quant_pre_process(str(source), str(prepared))
        kept_float = [first_convolution(onnx.load(prepared))] if recipe.float_first else []
        quantize_static(str(prepared), str(quantized), _Reader(calibration), quant_format=FORMATS[recipe.form],
                        activation_type=ACTIVATIONS[recipe.types], weight_type=QuantType.QInt8,
                        per_channel=recipe.per_channel, nodes_to_exclude=kept_float,
                        calibrate_method=METHODS[recipe.method], reduce_range=recipe.types == "u8s8")
        return integer_input(quantized.read_bytes())
