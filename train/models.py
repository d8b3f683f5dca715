"""The model zoo: each model by the name the Keras MNIST / notMNIST tutorials give it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
from keras import layers, regularizers

from edgedigits import EdgeDigitsError

INPUT_SHAPE = (28, 28, 1)
NOTMNIST = "notMNIST tutorial"
MLP = "Keras MLP tutorial"
CNN = "Keras CNN tutorial (LeNet-style)"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    layers: str
    source: str
    build: Callable[[int], keras.Model]  # number of classes -> model


def bn_layer() -> layers.BatchNormalization:
    # Momentum 0.9, not Keras' 0.99: the moving statistics settle within the short runs used here.
    return layers.BatchNormalization(momentum=0.9)


def _sequential(name: str, body: list[layers.Layer], classes: int, **dense) -> keras.Model:
    return keras.Sequential([keras.Input(INPUT_SHAPE), *body, layers.Dense(classes, activation="softmax", **dense)],
                            name=name)


def mlp(name: str, widths: tuple[int, ...], dropout: float = 0.0, init: str = "glorot_uniform"):
    """Flatten, then ReLU Dense layers of the given widths, each followed by dropout when asked."""
    def build(classes: int) -> keras.Model:
        body: list[layers.Layer] = [layers.Flatten()]
        for width in widths:
            body.append(layers.Dense(width, activation="relu", kernel_initializer=init))
            if dropout:
                body.append(layers.Dropout(dropout))
        return _sequential(name, body, classes, kernel_initializer=init)
    return build


def conv_net(name: str, regularizer=None, batch_norm: bool = False, dropout: bool = False):
    """Conv32-Pool-Conv64-Pool-Conv64-Dense64, with the tutorials' regularizer variants."""
    def conv(filters: int) -> list[layers.Layer]:
        if batch_norm:  # BN between the convolution and its ReLU; the conversion folds it away
            return [layers.Conv2D(filters, 3, use_bias=False, kernel_regularizer=regularizer),
                    bn_layer(), layers.ReLU()]
        return [layers.Conv2D(filters, 3, activation="relu", kernel_regularizer=regularizer)]

    def build(classes: int) -> keras.Model:
        body = [*conv(32), layers.MaxPooling2D(), *([layers.Dropout(0.25)] if dropout else []),
                *conv(64), layers.MaxPooling2D(), *conv(64), layers.Flatten(),
                layers.Dense(64, activation="relu", kernel_regularizer=regularizer),
                *([layers.Dropout(0.5)] if dropout else [])]
        return _sequential(name, body, classes, kernel_regularizer=regularizer)
    return build


def edge_cnn(classes: int) -> keras.Model:
    """Our own edge model: 3x3 conv-BN-ReLU pairs and pooling only, every op full-int8 and Edge TPU
    friendly once BN is folded."""
    def block(filters: int) -> list[layers.Layer]:
        return [layers.Conv2D(filters, 3, use_bias=False), bn_layer(), layers.ReLU()]
    body = [*block(32), *block(32), layers.MaxPooling2D(), *block(64), *block(64), layers.MaxPooling2D(),
            layers.Flatten(), layers.Dropout(0.3)]
    return _sequential("edge_cnn", body, classes)


def live_cnn(classes: int) -> keras.Model:
    """Our live-view model, for frames full of digits: a strided first convolution (full-size convolving
    and pooling of a one-channel input is what int8 runtimes do slowest), 1/5 of conv_net's int8 time."""
    body = [layers.Conv2D(16, 3, strides=2, activation="relu"), layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(), layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dropout(0.2)]
    return _sequential("live_cnn", body, classes)


_SPECS = (
    ModelSpec("softmax", "Dense10 (softmax regression)", NOTMNIST, mlp("softmax", ())),
    ModelSpec("mlp_200", "Dense200-Dense10", NOTMNIST, mlp("mlp_200", (200,))),
    ModelSpec("mlp_400_200", "Dense400-Dense200-Dense10", NOTMNIST, mlp("mlp_400_200", (400, 200))),
    ModelSpec("mlp_600_400_200", "Dense600-Dense400-Dense200-Dense10", NOTMNIST,
              mlp("mlp_600_400_200", (600, 400, 200))),
    ModelSpec("mlp_128", "Dense128-Dense10", MLP, mlp("mlp_128", (128,))),
    ModelSpec("mlp_128_glorot_normal", "Dense128-Dense10, glorot_normal init", MLP,
              mlp("mlp_128_glorot_normal", (128,), init="glorot_normal")),
    ModelSpec("mlp_128_dropout", "Dense128-Dropout0.5-Dense10", MLP, mlp("mlp_128_dropout", (128,), 0.5)),
    ModelSpec("mlp_784", "Dense784-Dense10, normal init", MLP, mlp("mlp_784", (784,), init="random_normal")),
    ModelSpec("mlp_784_2", "Dense784x2-Dense10, normal init", MLP, mlp("mlp_784_2", (784,) * 2, init="random_normal")),
    ModelSpec("mlp_784_3", "Dense784x3-Dense10, normal init", MLP, mlp("mlp_784_3", (784,) * 3, init="random_normal")),
    ModelSpec("mlp_784_dropout", "Dense784-Dropout0.5-Dense10, normal init", MLP,
              mlp("mlp_784_dropout", (784,), 0.5, "random_normal")),
    ModelSpec("mlp_one_layer", "Dense512-Dense10", MLP, mlp("mlp_one_layer", (512,))),
    ModelSpec("mlp_two_layers", "Dense512-Dense512-Dense10", MLP, mlp("mlp_two_layers", (512, 512))),
    ModelSpec("mlp_two_layers_dropout", "Dense512-Dropout0.5-Dense512-Dropout0.5-Dense10", MLP,
              mlp("mlp_two_layers_dropout", (512, 512), 0.5)),
    ModelSpec("mlp_512_256_dropout", "Dense512-Dropout0.5-Dense256-Dropout0.5-Dense10 (RMSprop baseline)", MLP,
              mlp("mlp_512_256_dropout", (512, 256), 0.5)),
    ModelSpec("conv_net", "Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10", CNN, conv_net("conv_net")),
    ModelSpec("conv_net_l1", "conv_net with L1(1e-4) kernel regularizers", CNN,
              conv_net("conv_net_l1", regularizer=regularizers.L1(1e-4))),
    ModelSpec("conv_net_l2", "conv_net with L2(1e-4) kernel regularizers", CNN,
              conv_net("conv_net_l2", regularizer=regularizers.L2(1e-4))),
    ModelSpec("conv_net_batch_norm", "conv_net with batch norm after each convolution", CNN,
              conv_net("conv_net_batch_norm", batch_norm=True)),
    ModelSpec("conv_net_dropout", "conv_net with Dropout0.25 after the first pool, 0.5 before the output", CNN,
              conv_net("conv_net_dropout", dropout=True)),
    ModelSpec("edge_cnn", "(Conv32-BN-ReLU)x2-Pool-(Conv64-BN-ReLU)x2-Pool-Dense10", "edgedigits (Edge TPU ops only)",
              edge_cnn),
    ModelSpec("live_cnn", "Conv16/2-Conv32-Pool-Dense64-Dense10", "edgedigits (live view: 1/5 of conv_net's int8 time)",
              live_cnn),
)
ZOO = {spec.name: spec for spec in _SPECS}


def build_model(name: str, classes: int = 10) -> keras.Model:
    if name not in ZOO:
        raise EdgeDigitsError(f"unknown model {name!r}; choose from {', '.join(ZOO)}")
    return ZOO[name].build(classes)


def zoo_table() -> str:
    """One line per model: name, layers, parameter count, source."""
    rows = [(s.name, s.layers, f"{build_model(s.name).count_params():,}", s.source) for s in _SPECS]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{n:<{widths[0]}}  {p:>{widths[2]}}  {l:<{widths[1]}}  {s}" for n, l, p, s in rows)
