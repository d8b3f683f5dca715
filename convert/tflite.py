"""Keras model to TFLite in every useful precision."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterator

import keras
import numpy as np
import tensorflow as tf

from edgedigits import EdgeDigitsError
from edgedigits.manifest import to_input


@dataclass(frozen=True)
class Precision:
    """How TFLiteConverter makes one precision."""
    optimize: bool = True
    float_type: tf.DType | None = None  # the float type weights are stored in
    io_type: tf.DType | None = None  # full-integer: the input and output type (calibrated)


TFLITE_PRECISIONS = {
    "float32": Precision(optimize=False),
    "float16": Precision(float_type=tf.float16),  # float16 weights, float compute
    "dynamic": Precision(),  # int8 weights, activations quantized on the fly
    "int8": Precision(io_type=tf.int8),  # full int8, int8 in/out
    "uint8": Precision(io_type=tf.uint8),  # full int8 inside, uint8 in/out: camera bytes and the Edge TPU
}


def representative(calibration: np.ndarray):
    def batches() -> Iterator[list[np.ndarray]]:
        for image in calibration:
            yield [to_input(image[None])]
    return batches


def tflite_converter(model: keras.Model, precision: str, calibration: np.ndarray | None = None):
    """A TFLiteConverter set up for one precision (full-integer ones calibrated on `calibration`)."""
    if precision not in TFLITE_PRECISIONS:
        raise EdgeDigitsError(f"unknown TFLite precision {precision!r}; choose from {', '.join(TFLITE_PRECISIONS)}")
    recipe = TFLITE_PRECISIONS[precision]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if recipe.optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if recipe.float_type is not None:
        converter.target_spec.supported_types = [recipe.float_type]
    if recipe.io_type is not None:
        converter.representative_dataset = representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = recipe.io_type
        converter.inference_output_type = recipe.io_type
    return converter


def to_tflite(model: keras.Model, precision: str, calibration: np.ndarray | None = None) -> bytes:
    """The model as TFLite flatbuffer bytes in the given precision."""
    converter = tflite_converter(model, precision, calibration)
    with warnings.catch_warnings():
        # TF warns that int8 inputs lack statistics even though the representative data set supplies them.
        warnings.filterwarnings("ignore", "Statistics for quantized inputs", UserWarning)
        return converter.convert()
