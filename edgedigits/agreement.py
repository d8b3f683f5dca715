"""How a quantized model's predictions compare with its float model's: the one place drop and agreement are made."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Agreement:
    accuracy: float
    drop_pp: float  # the float model's accuracy minus this one's, in percentage points
    agreement: float  # the share of images on which it predicts what the float model predicts


def against_float(predicted: np.ndarray, float_predicted: np.ndarray, labels: np.ndarray) -> Agreement:
    """Compare predicted classes (not scores) on the same images."""
    accuracy = float(np.mean(predicted == labels))
    return Agreement(accuracy, (float(np.mean(float_predicted == labels)) - accuracy) * 100,
                     float(np.mean(predicted == float_predicted)))
