import json
import shutil

import cv2
import numpy as np
import pytest

from edgedigits import EdgeDigitsError, NotApplicable
from edgedigits.agreement import against_float
from edgedigits.convert.calibration import DEFAULT_DIR, build_calibration, load_calibration
from edgedigits.convert.export import predicted_classes
from edgedigits.device.normalize import normalize_crop
from edgedigits.device.runtime import load_classifier, predict_all
from edgedigits.manifest import Manifest, sha256_file
from tests.conftest import assert_one_line_error, cli
from tests.test_device import _similarity

EXPECTED = {("keras", "float32"), ("tflite", "float32"), ("tflite", "float16"), ("tflite", "dynamic"),
            ("tflite", "int8"), ("tflite", "uint8"), ("onnx", "float32"), ("onnx", "int8")}


def test_manifest_lists_every_artifact_with_its_checksum(quick_export):
    manifest = Manifest.load(quick_export)
    assert manifest.model == "conv_net" and manifest.classes == [str(d) for d in range(10)]
    assert {(a.format, a.precision) for a in manifest.artifacts} == EXPECTED
    for artifact in manifest.artifacts:
        assert sha256_file(quick_export / artifact.path) == artifact.sha256
        assert (quick_export / artifact.path).stat().st_size == artifact.bytes
        assert artifact.test_accuracy > 0.95
    assert manifest.find("onnx", "int8").variant == "qdq-u8s8-minmax-per-channel"
    assert not list(quick_export.glob(".*"))  # no temp files left behind


@pytest.mark.parametrize("fmt, precision, dtype, zero_point", [
    ("tflite", "int8", "int8", -128), ("tflite", "uint8", "uint8", 0), ("onnx", "int8", "uint8", 0)])
def test_integer_models_take_raw_pixels(quick_export, fmt, precision, dtype, zero_point):
    """Input scale 1/255: a camera pixel p enters as p + zero point, with no float quantize per call."""
    spec = Manifest.load(quick_export).find(fmt, precision).input
    assert spec.dtype == dtype and spec.zero_point == zero_point
    assert spec.scale == pytest.approx(1 / 255, rel=1e-3)


def test_sizes_follow_the_precision(quick_export):
    manifest = Manifest.load(quick_export)
    size = {(a.format, a.precision): a.bytes for a in manifest.artifacts}
    assert 0.45 <= size[("tflite", "float16")] / size[("tflite", "float32")] <= 0.55
    for key in (("tflite", "dynamic"), ("tflite", "int8"), ("tflite", "uint8")):
        assert size[key] / size[("tflite", "float32")] <= 0.30, key
    assert size[("onnx", "int8")] / size[("onnx", "float32")] <= 0.35


def test_int8_matches_float_on_the_full_test_split(quick_export, mnist):
    """The quantization guard: int8 loses almost nothing against float on all 10,000 test digits."""
    for fmt in ("tflite", "onnx"):
        float_pred = predict_all(load_classifier(quick_export / f"model_float32.{fmt}"), mnist.test.images).argmax(1)
        int8_pred = predict_all(load_classifier(quick_export / f"model_int8.{fmt}"), mnist.test.images).argmax(1)
        drop = np.mean(float_pred == mnist.test.labels) - np.mean(int8_pred == mnist.test.labels)
        assert drop <= 0.003, fmt
        assert np.mean(float_pred == int8_pred) >= 0.99, fmt


def test_float_onnx_flattens_with_a_constant_shape(quick_export):
    import onnx
    ops = [n.op_type for n in onnx.load(quick_export / "model_float32.onnx").graph.node]
    assert not {"Shape", "Gather", "Concat"} & set(ops) and ops.count("Reshape") == 2


def test_float_artifacts_agree_with_keras(quick_export, mnist):
    import keras
    model = keras.models.load_model(quick_export / "model.keras")
    expected = model.predict(mnist.test.images[:500, ..., None] / 255.0, verbose=0)
    for path in ("model_float32.tflite", "model_float32.onnx", "model_float16.tflite"):
        np.testing.assert_allclose(predict_all(load_classifier(quick_export / path), mnist.test.images[:500]),
                                   expected, atol=2e-3 if "16" in path else 1e-4)
    assert np.mean(predicted_classes(quick_export / "model_int8.tflite", mnist.test) == mnist.test.labels) > 0.95


def test_bare_int8_onnx_file_carries_its_input_quantization(quick_export, mnist, tmp_path):
    bare = tmp_path / "bare.onnx"
    shutil.copy(quick_export / "model_int8.onnx", bare)
    classifier = load_classifier(bare)
    assert classifier.input_quant.dtype == np.uint8 and classifier.input_quant.scale == pytest.approx(1 / 255)
    np.testing.assert_array_equal(classifier.prepare(mnist.test.images[:1])[0, ..., 0], mnist.test.images[0])


@pytest.mark.parametrize("form, types, method, per_channel", [
    ("qoperator", "s8s8", "minmax", True), ("qdq", "s8s8", "entropy", False), ("qoperator", "u8s8", "percentile", False)])
def test_every_onnx_recipe_converts_and_keeps_accuracy(quick_export, mnist, tmp_path, form, types, method, per_channel):
    from edgedigits.convert.onnx import OnnxQuant, to_onnx_int8
    calibration = load_calibration(DEFAULT_DIR)[::5]
    model_bytes, spec = to_onnx_int8((quick_export / "model_float32.onnx").read_bytes(), calibration,
                                     OnnxQuant(form, types, method, per_channel))
    assert spec.dtype == ("uint8" if types == "u8s8" else "int8")
    (tmp_path / "m.onnx").write_bytes(model_bytes)
    compared = against_float(predicted_classes(tmp_path / "m.onnx", mnist.test),
                             predicted_classes(quick_export / "model_float32.onnx", mnist.test), mnist.test.labels)
    assert compared.drop_pp <= 1 and compared.agreement > 0.98


def test_int8_onnx_with_its_first_convolution_in_float(quick_export, mnist):
    """A second int8 ONNX export keeps the one-channel convolution float (ONNX Runtime's int8 kernels are slow
    there on some CPUs); a model with no convolution after its input has none, and no failure either."""
    import keras
    import onnx
    from edgedigits.convert.onnx import OnnxQuant, first_convolution, to_onnx_float, to_onnx_int8
    manifest = Manifest.load(quick_export)
    artifact = next(a for a in manifest.artifacts if a.path == "model_int8_float_first.onnx")
    assert artifact.precision == "int8" and artifact.input.dtype == "float32" and artifact.variant.endswith("float-first")
    graph = onnx.load(quick_export / artifact.path).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    quantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    assert convs[0].name == first_convolution(onnx.load(quick_export / "model_float32.onnx"))
    assert convs[0].input[0] not in quantized and all(c.input[0] in quantized for c in convs[1:])
    assert abs(artifact.test_accuracy - manifest.find("onnx", "float32").test_accuracy) <= 0.005
    assert not manifest.failed
    flat = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(NotApplicable, match="no convolution"):
        to_onnx_int8(to_onnx_float(flat), load_calibration(DEFAULT_DIR)[:60], OnnxQuant(float_first=True))


def test_quantization_report_covers_artifacts_and_layers(quick_export):
    report = json.loads((quick_export / "quantization.json").read_text())
    assert {a["path"] for a in report["artifacts"]} >= {"model_int8.tflite", "model_int8.onnx", "model_uint8.tflite"}
    int8 = next(a for a in report["artifacts"] if a["path"] == "model_int8.tflite")
    assert sum(int8["disagreements"].values()) == round((1 - int8["agreement"]) * 10_000)
    layers = report["layers"]
    assert len(layers) >= 7 and {"CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D"} <= {e["op"] for e in layers}
    assert [e["sqnr_db"] for e in layers] == sorted(e["sqnr_db"] for e in layers)  # worst first
    assert all(15 < e["sqnr_db"] < 200 for e in layers)
    text = (quick_export / "quantization.md").read_text()
    assert "| model_int8.tflite | int8 |" in text and "SQNR" in text
    assert cv2.imread(str(quick_export / "quant_layers.png")) is not None


def test_edge_tpu_report_flags_an_unsupported_op(mnist, tmp_path):
    """TFLite has no int8 ELU, so it runs ELU in float between DEQUANTIZE and QUANTIZE; the Edge TPU has
    neither, and the compiler leaves everything from the first unsupported op on to the CPU."""
    import keras
    from edgedigits.convert.edgetpu import check_ops, compile_for_edgetpu, format_checks
    from edgedigits.convert.export import tpu_model
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3), keras.layers.Activation("elu"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    (tmp_path / "elu.tflite").write_bytes(tpu_model(model, load_calibration(DEFAULT_DIR)[:60]))
    checks = check_ops(tmp_path / "elu.tflite")
    first_bad = next(i for i, c in enumerate(checks) if c.problems)
    assert [c.op for c in checks[:first_bad]] == ["QUANTIZE", "CONV_2D"]
    assert all(c.on_tpu for c in checks[:first_bad]) and not any(c.on_tpu for c in checks[first_bad:])
    elu = next(c for c in checks if c.op == "ELU")
    assert "not an Edge TPU operation" in elu.problems and any("float32, not 8-bit" in p for p in elu.problems)
    assert f"Edge TPU readiness: 2 of {len(checks)}" in format_checks(checks)
    if shutil.which("edgetpu_compiler") is None:
        assert "not installed" in compile_for_edgetpu(tmp_path / "elu.tflite")
        assert not list(tmp_path.glob("*_edgetpu.tflite"))  # nothing claimed that was not compiled


def test_edge_tpu_report_flags_float_tensors_and_dynamic_shapes(quick_export):
    from edgedigits.convert.edgetpu import check_ops
    checks = check_ops(quick_export / "model_float32.tflite")
    assert not any(c.on_tpu for c in checks)
    problems = " ".join(p for c in checks for p in c.problems)
    assert "float32, not 8-bit" in problems and "dynamic shape" in problems


def test_target_edgetpu_writes_a_static_model_and_its_report(quick_export, mnist, tmp_path):
    run = shutil.copytree(quick_export, tmp_path / "run")
    done = cli("convert", run, "--target", "edgetpu", "--no-report")
    assert done.returncode == 0, done.stderr
    assert "Edge TPU readiness: 11 of 11 operations" in (run / "edgetpu.md").read_text()
    tpu = Manifest.load(run).find("tflite", "uint8")
    assert any(a.path == "model_tpu.tflite" and a.variant == "edgetpu-static" for a in Manifest.load(run).artifacts)
    assert tpu is not None


def test_pick_fastest_measures_every_recipe(quick_export, tmp_path):
    run = shutil.copytree(quick_export, tmp_path / "run")
    done = cli("convert", run, "--pick", "fastest", "--no-report")
    assert done.returncode == 0, done.stderr
    measured = [line for line in done.stdout.splitlines() if "µs a frame" in line and "onnx " in line]
    assert len(measured) == 8
    variant = Manifest.load(run).find("onnx", "int8").variant
    assert f"picked {variant}" in done.stdout


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


def test_calibration_build_from_own_pictures_of_any_size_and_polarity(mnist, tmp_path):
    """Users calibrate on their own photos: cut and normalized exactly like live camera crops."""
    own = tmp_path / "own"
    for index in range(60):
        image, label = mnist.train.images[index], mnist.train.labels[index]
        size = 40 + 3 * index
        picture = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
        picture = 255 - picture if index % 2 else picture  # half dark ink on paper, half chalk on a board
        (own / str(label)).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(own / str(label) / f"photo{index}.jpg"), cv2.copyMakeBorder(
            picture, 8, 8, 8, 8, cv2.BORDER_REPLICATE))
    cv2.imwrite(str(own / "blank.png"), np.full((40, 40), 128, np.uint8))
    out = tmp_path / "calibration"
    done = cli("calibration", "build", "--from", own, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "wrote 60 calibration crops" in done.stdout and "no digit found in" in done.stderr
    images = load_calibration(out)
    rows = [row.split(",") for row in (out / "manifest.csv").read_text().splitlines()[1:]]
    assert len(images) == len(rows) == 60
    for name, label, origin, digest in rows:
        index = int(origin.split("photo")[1].split(".")[0])
        assert label == str(mnist.train.labels[index]) and sha256_file(out / name) == digest
        crop = cv2.imread(str(out / name), cv2.IMREAD_GRAYSCALE)
        assert _similarity(crop, normalize_crop(mnist.train.images[index])) > 0.75, origin
    assert_one_line_error(cli("calibration", "build", "--from", tmp_path / "nowhere"), "folder of images not found")
    few = tmp_path / "few"
    shutil.copytree(own / "5", few)
    assert_one_line_error(cli("calibration", "build", "--from", few, "--out", tmp_path / "c2"), "at least 50")


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


def test_convert_reports_a_missing_run_and_bad_calibration_in_one_line(tmp_path, quick_export):
    assert_one_line_error(cli("convert", tmp_path / "nothing"), "model.keras: not found")
    run = shutil.copytree(quick_export, tmp_path / "run")
    assert_one_line_error(cli("convert", run, "--calibration", tmp_path / "none"), "calibration folder not found")


def test_a_failing_export_is_a_row_and_the_others_are_written(quick_export, mnist, tmp_path, monkeypatch):
    """tf2onnx failing (as it does on some layers) costs the ONNX rows only: the TFLite models are written and
    listed, the manifest and the report name what failed and why."""
    from edgedigits.convert import export as exporting

    def broken(model):
        raise ValueError("tf2onnx: unsupported op SomethingNew")
    monkeypatch.setattr(exporting, "to_onnx_float", broken)
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(quick_export / "model.keras", run)
    shutil.copy(quick_export / "metrics.json", run)
    manifest = exporting.convert(run, mnist)
    assert [a.path for a in manifest.artifacts] == ["model.keras"] + [
        e.path for e in exporting.targets.EXPORTS if e.format == "tflite" and e.only_for is None]
    assert [(f["path"], f["status"]) for f in manifest.failed] == [
        ("model_float32.onnx", "failed: conversion failed (tf2onnx: unsupported op SomethingNew)"),
        ("model_int8.onnx", "failed: made from model_float32.onnx, which failed"),
        ("model_int8_float_first.onnx", "failed: made from model_float32.onnx, which failed")]
    assert Manifest.load(run).failed == manifest.failed and not (run / "model_int8.onnx").exists()
    report = (run / "quantization.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| model_float32.onnx |"))
    assert "| failed: conversion failed (tf2onnx: unsupported op SomethingNew) |" in row
    assert "| model_int8.tflite | int8 |" in report
