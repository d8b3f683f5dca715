import shutil

import cv2
import numpy as np
import pytest

from edgedigits import EdgeDigitsError
from edgedigits.convert.calibration import DEFAULT_DIR, build_calibration, load_calibration
from edgedigits.convert.export import artifact_accuracy
from edgedigits.device.runtime import load_classifier, predict_all
from edgedigits.manifest import Manifest, sha256_file

EXPECTED = {("keras", "float32"), ("tflite", "float32"), ("tflite", "int8"), ("onnx", "float32"), ("onnx", "int8")}


def test_manifest_lists_every_artifact_with_its_checksum(quick_export):
    manifest = Manifest.load(quick_export)
    assert manifest.model == "conv_net" and manifest.classes == [str(d) for d in range(10)]
    assert {(a.format, a.precision) for a in manifest.artifacts} == EXPECTED
    for artifact in manifest.artifacts:
        assert sha256_file(quick_export / artifact.path) == artifact.sha256
        assert (quick_export / artifact.path).stat().st_size == artifact.bytes
        assert artifact.test_accuracy > 0.95
    assert not list(quick_export.glob(".*"))  # no temp files left behind


def test_int8_tflite_takes_raw_pixels_as_int8(quick_export):
    spec = Manifest.load(quick_export).find("tflite", "int8").input
    assert spec.dtype == "int8" and spec.zero_point == -128 and spec.scale == pytest.approx(1 / 255, rel=0.01)


def test_int8_matches_float_on_the_full_test_split(quick_export, mnist):
    """The quantization guard: int8 loses almost nothing against float on all 10,000 test digits."""
    for fmt in ("tflite", "onnx"):
        float_pred = predict_all(load_classifier(quick_export / f"model_float32.{fmt}"), mnist.test.images).argmax(1)
        int8_pred = predict_all(load_classifier(quick_export / f"model_int8.{fmt}"), mnist.test.images).argmax(1)
        drop = np.mean(float_pred == mnist.test.labels) - np.mean(int8_pred == mnist.test.labels)
        assert drop <= 0.003, fmt
        assert np.mean(float_pred == int8_pred) >= 0.99, fmt
        size_ratio = (quick_export / f"model_int8.{fmt}").stat().st_size / (quick_export / f"model_float32.{fmt}").stat().st_size
        assert size_ratio <= 0.32, fmt


def test_float_artifacts_agree_with_keras(quick_export, mnist):
    import keras
    model = keras.models.load_model(quick_export / "model.keras")
    expected = model.predict(mnist.test.images[:500, ..., None] / 255.0, verbose=0)
    for path in ("model_float32.tflite", "model_float32.onnx"):
        np.testing.assert_allclose(predict_all(load_classifier(quick_export / path), mnist.test.images[:500]),
                                   expected, atol=1e-4)
    assert artifact_accuracy(quick_export / "model_int8.tflite", mnist.test) > 0.95


def test_committed_calibration_set_is_balanced_and_from_the_train_split(mnist):
    images = load_calibration(DEFAULT_DIR)
    rows = (DEFAULT_DIR / "manifest.csv").read_text().splitlines()[1:]
    assert len(images) == len(rows) == 500
    labels = [int(r.split(",")[1]) for r in rows]
    assert np.bincount(labels).tolist() == [50] * 10
    for row in rows[:20]:
        name, label, index, digest = row.split(",")
        assert sha256_file(DEFAULT_DIR / name) == digest
        np.testing.assert_array_equal(cv2.imread(str(DEFAULT_DIR / name), cv2.IMREAD_GRAYSCALE),
                                      mnist.train.images[int(index)])
        assert mnist.train.labels[int(index)] == int(label)


def test_calibration_build_writes_a_fresh_balanced_set(mnist, tmp_path):
    assert build_calibration(mnist.train, tmp_path, per_class=6) == 60
    assert len(load_calibration(tmp_path)) == 60
    build_calibration(mnist.train, tmp_path, per_class=5, seed=3)
    assert len(load_calibration(tmp_path)) == 50  # stale images of the first build are gone


def test_calibration_loader_rejects_bad_folders(tmp_path):
    with pytest.raises(EdgeDigitsError, match="calibration folder not found"):
        load_calibration(tmp_path / "absent")
    with pytest.raises(EdgeDigitsError, match="0 calibration images, need at least 50"):
        load_calibration(tmp_path)
    shutil.copy(next(DEFAULT_DIR.glob("*.png")), tmp_path / "a.png")
    (tmp_path / "b.png").write_text("not a png")
    with pytest.raises(EdgeDigitsError, match="b.png: not a readable image"):
        load_calibration(tmp_path)
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((32, 32), np.uint8))
    with pytest.raises(EdgeDigitsError, match="size=32x32, expected=28x28"):
        load_calibration(tmp_path)
