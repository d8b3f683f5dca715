import json

import cv2
import pytest

from edgedigits import EdgeDigitsError
from edgedigits.train.models import ZOO, build_model
from edgedigits.train.trainer import TrainConfig, train

PARAMS = {"conv_net": 93_322, "mlp_one_layer": 407_050, "mlp_two_layers": 669_706}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_models_have_the_tutorials_parameter_counts(name):
    assert build_model(name).count_params() == PARAMS[name]


def test_unknown_model_is_a_clear_error():
    with pytest.raises(EdgeDigitsError, match="unknown model 'lenet9'"):
        build_model("lenet9")


def test_quick_run_writes_model_history_metrics_and_plots(quick_export):
    history = json.loads((quick_export / "history.json").read_text())
    assert len(history["loss"]) == len(history["val_accuracy"]) == len(history["epoch_seconds"]) == 2
    assert history["loss"][1] < history["loss"][0]
    metrics = json.loads((quick_export / "metrics.json").read_text())
    assert metrics["params"] == PARAMS["conv_net"] and metrics["test_accuracy"] > 0.95
    for plot in ("loss.png", "accuracy.png"):
        image = cv2.imread(str(quick_export / plot))
        assert image is not None and image.shape[0] > 200 and image.std() > 10


def test_augmented_mlp_learns_on_a_slice(mnist, tmp_path):
    result = train(TrainConfig(model="mlp_one_layer", epochs=3, limit=6000, augment=True, lr_schedule="none"),
                   mnist, tmp_path)
    assert result.test_accuracy > 0.85
    assert (tmp_path / "model.keras").stat().st_size > 1_000_000


def test_bad_training_options_are_rejected(mnist, tmp_path):
    with pytest.raises(EdgeDigitsError, match="unknown --optimizer"):
        train(TrainConfig(model="conv_net", optimizer="lbfgs"), mnist, tmp_path)
    with pytest.raises(EdgeDigitsError, match="epochs=0"):
        train(TrainConfig(model="conv_net", epochs=0), mnist, tmp_path)
