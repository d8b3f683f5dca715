"""Keras model to ONNX: float32 through tf2onnx, static int8 through ONNX Runtime's quantizer."""
from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import tf2onnx
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quant_pre_process,
                                      quantize_static)

from edgedigits.train.trainer import to_input

OPSET = 17
INPUT_NAME = "input"


def to_onnx_float(model: keras.Model) -> bytes:
    """Float32 ONNX with a dynamic batch axis (tf2onnx's from_keras fails on Keras 3; from_function works)."""
    signature = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME),)
    function = tf.function(lambda x: model(x, training=False), input_signature=signature)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=OPSET)
    return proto.SerializeToString()


class _Reader(CalibrationDataReader):
    def __init__(self, calibration: np.ndarray):
        self._batches = iter(to_input(calibration[i:i + 1]) for i in range(len(calibration)))

    def get_next(self):
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def to_onnx_int8(float_model: bytes, calibration: np.ndarray) -> bytes:
    """Static int8 ONNX in QDQ form, uint8 activations and int8 per-channel weights (U8S8)."""
    with tempfile.TemporaryDirectory() as tmp:
        source, prepared, quantized = (Path(tmp) / n for n in ("float.onnx", "prepared.onnx", "int8.onnx"))
        source.write_bytes(float_model)
        quant_pre_process(str(source), str(prepared))
        quantize_static(str(prepared), str(quantized), _Reader(calibration), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
        return quantized.read_bytes()
