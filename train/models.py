"""The model zoo: each model by the name the Keras MNIST tutorials give it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
from keras import layers

from edgedigits import EdgeDigitsError

INPUT_SHAPE = (28, 28, 1)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    layers: str
    source: str
    build: Callable[[], keras.Model]


def _sequential(name: str, *body: layers.Layer) -> keras.Model:
    return keras.Sequential([keras.Input(INPUT_SHAPE), *body, layers.Dense(10, activation="softmax")], name=name)


def conv_net() -> keras.Model:
    return _sequential(
        "conv_net",
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(), layers.Dense(64, activation="relu"))


def mlp(name: str, *widths: int) -> Callable[[], keras.Model]:
    return lambda: _sequential(name, layers.Flatten(), *(layers.Dense(w, activation="relu") for w in widths))


ZOO = {spec.name: spec for spec in (
    ModelSpec("conv_net", "Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10", "Keras CNN tutorial (LeNet-style)",
              conv_net),
    ModelSpec("mlp_one_layer", "Dense512-Dense10", "Keras MLP tutorial", mlp("mlp_one_layer", 512)),
    ModelSpec("mlp_two_layers", "Dense512-Dense512-Dense10", "Keras MLP tutorial", mlp("mlp_two_layers", 512, 512)),
)}


def build_model(name: str) -> keras.Model:
    if name not in ZOO:
        raise EdgeDigitsError(f"unknown model {name!r}; choose from {', '.join(ZOO)}")
    return ZOO[name].build()
