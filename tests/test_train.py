import json

import cv2
import h5py
import numpy as np
import pytest

from edgedigits import EdgeDigitsError
from edgedigits.datasets import load_dataset
from edgedigits.train.compare import compare
from edgedigits.train.models import ZOO, build_model, zoo_table
from edgedigits.train.trainer import OPTIMIZERS, TrainConfig, train
from tests.conftest import assert_one_line_error, cli

PARAMS = {
    "softmax": 7_850, "mlp_200": 159_010, "mlp_400_200": 396_210, "mlp_600_400_200": 793_610,
    "mlp_128": 101_770, "mlp_128_glorot_normal": 101_770, "mlp_128_dropout": 101_770,
    "mlp_784": 623_290, "mlp_784_2": 1_238_730, "mlp_784_3": 1_854_170, "mlp_784_dropout": 623_290,
    "mlp_one_layer": 407_050, "mlp_two_layers": 669_706, "mlp_two_layers_dropout": 669_706,
    "mlp_512_256_dropout": 535_818,
    "conv_net": 93_322, "conv_net_l1": 93_322, "conv_net_l2": 93_322, "conv_net_dropout": 93_322,
    "conv_net_batch_norm": 93_802,  # conv biases give way to batch-norm scale, offset and statistics
    "live_cnn": 56_714,
}
EDGE_TPU_LAYERS = {"Conv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
                   "ReLU", "BatchNormalization", "Dense", "Flatten", "Reshape", "Dropout"}


def test_the_zoo_is_complete():
    assert set(ZOO) == set(PARAMS) | {"edge_cnn"}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_zoo_models_have_the_tutorials_parameter_counts(name):
    assert build_model(name).count_params() == PARAMS[name]


def test_edge_cnn_is_small_and_uses_edge_tpu_ops_only():
    model = build_model("edge_cnn")
    assert model.count_params() <= 100_000
    assert {type(layer).__name__ for layer in model.layers} <= EDGE_TPU_LAYERS
    for layer in model.layers:
        assert getattr(layer, "activation", None) in (None,) or layer.activation.__name__ in ("relu", "softmax", "linear")


def test_regularized_variants_carry_their_regularizers():
    l1 = build_model("conv_net_l1")
    assert all(layer.kernel_regularizer is not None for layer in l1.layers if hasattr(layer, "kernel"))
    assert [type(layer).__name__ for layer in build_model("conv_net_dropout").layers].count("Dropout") == 2


def test_list_prints_every_model_with_its_parameters():
    done = cli("train", "--list")
    assert done.returncode == 0, done.stderr
    assert done.stdout == zoo_table() + "\n"
    assert "mlp_784" in done.stdout and "623,290" in done.stdout and "notMNIST tutorial" in done.stdout


def test_unknown_model_is_a_clear_error():
    with pytest.raises(EdgeDigitsError, match="unknown model 'lenet9'"):
        build_model("lenet9")
    assert_one_line_error(cli("train", "--epochs", "1"), "--model")


def test_quick_run_writes_model_history_metrics_and_plots(quick_export):
    history = json.loads((quick_export / "history.json").read_text())
    assert len(history["loss"]) == len(history["val_accuracy"]) == len(history["epoch_seconds"]) == 2
    assert history["loss"][1] < history["loss"][0]
    metrics = json.loads((quick_export / "metrics.json").read_text())
    assert metrics["params"] == PARAMS["conv_net"] and metrics["test_accuracy"] > 0.95
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.sum() == 10_000 and confusion.trace() / 10_000 == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert len(metrics["per_class_accuracy"]) == 10 and min(metrics["per_class_accuracy"]) > 0.85
    for plot in ("loss", "accuracy", "epoch_times", "confusion", "misclassified", "class_distribution", "samples"):
        image = cv2.imread(str(quick_export / f"{plot}.png"))
        assert image is not None and image.shape[0] > 200 and image.std() > 10, plot
    summary = (quick_export / "summary.txt").read_text()
    assert "conv2d" in summary and "93,322" in summary


def test_augmented_mlp_learns_on_a_slice(mnist, tmp_path):
    result = train(TrainConfig(model="mlp_one_layer", epochs=3, limit=6000, augment=True, lr_schedule="none"),
                   mnist, tmp_path)
    assert result.test_accuracy > 0.85
    assert (tmp_path / "model.keras").stat().st_size > 1_000_000


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_and_schedule_trains(mnist, tmp_path, optimizer):
    lr = {"sgd": 0.05, "adagrad": 0.05}.get(optimizer, 3e-3)
    schedule = {"sgd": "step", "adam": "none"}.get(optimizer, "cosine")
    result = train(TrainConfig(model="softmax", epochs=2, limit=3000, optimizer=optimizer, lr=lr,
                               lr_schedule=schedule), mnist, tmp_path)
    assert result.test_accuracy > 0.75, optimizer


def test_early_stopping_stops_and_keeps_the_best_epoch(mnist, tmp_path):
    # A learning rate far too high makes validation accuracy stall, so patience 1 must stop the run early.
    train(TrainConfig(model="mlp_128", epochs=12, limit=2000, lr=0.5, optimizer="sgd", lr_schedule="none",
                      early_stopping=1, seed=3), mnist, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    history = json.loads((tmp_path / "history.json").read_text())
    assert metrics["epochs_run"] < 12 and metrics["epochs_run"] == len(history["loss"])
    best = int(np.argmax(history["val_accuracy"])) + 1
    assert metrics["best_epoch"] == best


def test_bad_training_options_are_rejected(mnist, tmp_path):
    with pytest.raises(EdgeDigitsError, match="unknown --optimizer"):
        train(TrainConfig(model="conv_net", optimizer="lbfgs"), mnist, tmp_path)
    with pytest.raises(EdgeDigitsError, match="epochs=0"):
        train(TrainConfig(model="conv_net", epochs=0), mnist, tmp_path)
    with pytest.raises(EdgeDigitsError, match="needs a validation split"):
        train(TrainConfig(model="conv_net", validation_split=0, early_stopping=2), mnist, tmp_path)


def test_compare_tables_and_draws_several_runs(quick_export, mnist, tmp_path):
    other = tmp_path / "softmax"
    train(TrainConfig(model="softmax", epochs=2, limit=3000), mnist, other)
    table, figure = compare([other, quick_export], tmp_path / "compare.png")
    lines = table.splitlines()
    assert len(lines) == 4 and "| conv_net | conv_net | 93,322 | 2 |" in lines[2]  # best test accuracy first
    assert cv2.imread(str(figure)) is not None and cv2.imread(str(tmp_path / "compare_loss.png")) is not None
    assert_one_line_error(cli("compare", tmp_path / "nothing"), "not a training run folder")


# --- other data sets -------------------------------------------------------------------------------

def test_npz_and_hdf5_and_image_folders_load(mnist, tmp_path):
    train_split, test_split = mnist.train.head(300), mnist.test.head(100)
    np.savez(tmp_path / "mnist.npz", x_train=train_split.images, y_train=train_split.labels,
             x_test=test_split.images, y_test=test_split.labels, classes=np.array(list("ABCDEFGHIJ")))
    data = load_dataset(tmp_path / "mnist.npz")
    assert data.classes == tuple("ABCDEFGHIJ") and len(data.train) == 300
    np.testing.assert_array_equal(data.test.images, test_split.images)

    # The notMNIST tutorial's data.h5: float pixels in [-0.5, 0.5], the label in the last column.
    with h5py.File(tmp_path / "data.h5", "w") as h5:
        for name, split in (("trainData", train_split), ("testData", test_split)):
            pixels = split.images.reshape(len(split), 784) / 255.0 - 0.5
            h5[name] = np.hstack([pixels, split.labels[:, None]])
    data = load_dataset(tmp_path / "data.h5")
    assert np.abs(data.train.images.astype(int) - train_split.images.astype(int)).max() <= 1
    np.testing.assert_array_equal(data.test.labels, test_split.labels)

    folder = tmp_path / "letters"
    for i in range(60):
        (folder / "AB"[i % 2]).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / "AB"[i % 2] / f"{i}.png"), cv2.resize(mnist.train.images[i], (56, 56)))
    data = load_dataset(folder)
    assert data.classes == ("A", "B") and len(data.train) + len(data.test) == 60
    assert data.train.images.shape[1:] == (28, 28)


def test_training_on_a_folder_takes_its_class_names(mnist, tmp_path):
    folder = tmp_path / "digits"
    for name, digit in (("zero", 0), ("one", 1)):
        (folder / name).mkdir(parents=True)
        for i in np.flatnonzero(mnist.train.labels == digit)[:150]:
            cv2.imwrite(str(folder / name / f"{i}.png"), mnist.train.images[i])
    done = cli("train", "--model", "softmax", "--epochs", "5", "--batch-size", "16", "--data", folder,
               "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["classes"] == ["one", "zero"] and metrics["test_accuracy"] > 0.9


@pytest.mark.parametrize("make, message", [
    (lambda p: p.with_suffix(".npz").write_bytes(b"junk"), "not a readable .npz"),
    (lambda p: np.savez(p.with_suffix(".npz"), x_train=np.zeros((2, 28, 28))), "lacks the arrays"),
    (lambda p: np.savez(p.with_suffix(".npz"), x_train=np.zeros((2, 5, 5)), y_train=[0, 1], x_test=np.zeros((1, 28, 28)),
                        y_test=[0]), "image shape=(2, 5, 5)"),
    (lambda p: p.with_suffix(".h5").write_bytes(b"junk"), "not a readable HDF5 file"),
    (lambda p: p.with_suffix(".csv").write_text("1,2"), "unknown data set kind"),
])
def test_bad_data_files_get_a_clear_error(tmp_path, make, message):
    make(tmp_path / "data")
    path = next(tmp_path.iterdir())
    with pytest.raises(EdgeDigitsError) as raised:
        load_dataset(path)
    assert message in str(raised.value)
