import json

import numpy as np
import pytest

from edgedigits import EdgeDigitsError
from edgedigits.manifest import Artifact, InputSpec, Manifest, atomic_path, sha256_file, write_atomic


def test_manifest_round_trips_and_verifies_checksums(tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"model bytes")
    artifact = Artifact.of_file(tmp_path, "model.tflite", "tflite", "int8", InputSpec("int8", 1 / 255, -128), 0.99)
    manifest = Manifest(model="conv_net", classes=list("0123456789"), artifacts=[artifact])
    manifest.save(tmp_path)
    loaded = Manifest.load(tmp_path)
    assert loaded == manifest
    assert loaded.artifacts[0].bytes == 11 and loaded.artifacts[0].sha256 == sha256_file(tmp_path / "model.tflite")
    assert json.loads((tmp_path / "manifest.json").read_text())["input"]["layout"] == "NHWC"
    assert loaded.verify(tmp_path, loaded.artifacts[0]) == tmp_path / "model.tflite"

    (tmp_path / "model.tflite").write_bytes(b"model bytez")
    with pytest.raises(EdgeDigitsError, match="sha256 differs"):
        loaded.verify(tmp_path, loaded.artifacts[0])
    (tmp_path / "model.tflite").unlink()
    with pytest.raises(EdgeDigitsError, match="missing"):
        loaded.verify(tmp_path, loaded.artifacts[0])


def test_unknown_format_is_refused(tmp_path):
    (tmp_path / "m.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="format=pickle"):
        Artifact.of_file(tmp_path, "m.bin", "pickle", "int8", InputSpec("int8"))


@pytest.mark.parametrize("text, message", [(None, "no manifest"), ("{not json", "not a valid manifest"),
                                           ('{"model": "x"}', "not a valid manifest")])
def test_missing_or_broken_manifest_is_a_clear_error(tmp_path, text, message):
    if text is not None:
        (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(EdgeDigitsError, match=message):
        Manifest.load(tmp_path)


def test_failed_write_leaves_neither_half_a_file_nor_a_temp_file(tmp_path):
    target = tmp_path / "model.onnx"
    write_atomic(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("converter crashed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_the_manifests_pixel_scale_is_read_on_loading(quick_export, tmp_path):
    """Manifest.input states how pixels become the float input; a model trained on another scale is refused
    rather than run on inputs 255 times off."""
    import shutil

    from edgedigits.device.runtime import load_artifact
    export = shutil.copytree(quick_export, tmp_path / "export")
    manifest = Manifest.load(export)
    classifier = load_artifact(export, manifest, manifest.find("tflite", "float32"))
    assert classifier.predict(np.zeros((1, 28, 28), np.uint8)).shape == (1, 10)
    manifest.input["scale"] = 1.0
    with pytest.raises(EdgeDigitsError, match="pixel scale 1.0 is not 1/255"):
        load_artifact(export, manifest, manifest.find("tflite", "float32"))
