"""Keras model to TFLite: float32 and full int8 (int8 in/out)."""
from __future__ import annotations

import warnings
from typing import Iterator

import keras
import numpy as np
import tensorflow as tf

from edgedigits.train.trainer import to_input


def _representative(calibration: np.ndarray):
    def batches() -> Iterator[list[np.ndarray]]:
        for image in calibration:
            yield [to_input(image[None])]
    return batches


def to_tflite(model: keras.Model, precision: str, calibration: np.ndarray | None = None) -> bytes:
    """The model as TFLite flatbuffer bytes; int8 quantizes everything, input and output included."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif precision != "float32":
        raise ValueError(f"precision={precision!r}, expected float32 or int8")
    with warnings.catch_warnings():
        # TF warns that int8 inputs lack statistics even though the representative data set supplies them.
        warnings.filterwarnings("ignore", "Statistics for quantized inputs", UserWarning)
        return converter.convert()
