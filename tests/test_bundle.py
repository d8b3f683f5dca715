"""Bundles: what they hold, what opening one refuses, and `verify` and `bench` on them."""
import io
import json
import shutil
import tarfile

import cv2
import numpy as np
import pytest

from edgedigits import EdgeDigitsError
from edgedigits.convert.export import ConvertOptions, convert
from edgedigits.deploy import bundle as bundles
from edgedigits.deploy.bundle import BundleOptions, make_bundle, open_bundle
from edgedigits.device.bench import bench
from edgedigits.manifest import MANIFEST, Manifest, sha256_file
from tests.conftest import assert_one_line_error, cli


@pytest.fixture(scope="module")
def pi_bundle(quick_export, mnist, tmp_path_factory):
    path = tmp_path_factory.mktemp("bundles") / "quick-pi.tar.gz"
    make_bundle(quick_export, mnist.test, path, BundleOptions(target="pi", golden=300))
    return path


def _members(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _rewrite(source, target, change) -> None:
    """Copy a bundle, letting `change(tar, name, data)` add each member (changed, or not at all) to the copy."""
    with tarfile.open(target, "w:gz") as tar:
        for name, data in _members(source).items():
            change(tar, name, data)


def _add(tar: tarfile.TarFile, name: str, data: bytes, **fields) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def test_bundle_holds_models_golden_vectors_and_checksums(pi_bundle, quick_export, tmp_path, mnist):
    members = _members(pi_bundle)
    manifest = json.loads(members[MANIFEST])
    # pi's int8 TFLite first, then its other int8 variants that kept within the budget on the test split
    exported = {a["path"]: a for a in json.loads((quick_export / MANIFEST).read_text())["artifacts"]}
    within = [name for name in ("model_uint8.tflite",) if (exported["model_float32.tflite"]["test_accuracy"]
                                                           - exported[name]["test_accuracy"]) * 100 <= 0.5]
    assert manifest["bundle"]["variants"] == ["model_int8.tflite", *within]
    assert set(members) == {MANIFEST, "model_float32.tflite", "golden.npz", *manifest["bundle"]["variants"]}
    assert manifest["classes"] == [str(i) for i in range(10)] and manifest["bundle"]["target"] == "pi"
    for artifact in manifest["artifacts"]:
        assert artifact["sha256"] == sha256_file(quick_export / artifact["path"])
        assert artifact["input"]["dtype"] in ("int8", "uint8", "float32")
    with np.load(io.BytesIO(members["golden.npz"])) as golden:
        assert golden["images"].shape == (300, 28, 28) and golden["float_outputs"].shape == (300, 10)
        index = next(i for i in range(10000) if np.array_equal(mnist.test.images[i], golden["images"][0]))
        assert golden["labels"][0] == mnist.test.labels[index]
    assert open_bundle(pi_bundle, tmp_path).manifest.bundle["runtime_artifact"] == "model_int8.tflite"


@pytest.mark.parametrize("name, fields, message", [
    ("/etc/evil", {}, "absolute path"),
    ("../evil", {}, "plain file names only"),
    ("sub/model.tflite", {}, "plain file names only"),
    ("link", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "links are not allowed"),
    ("hard", {"type": tarfile.LNKTYPE, "linkname": MANIFEST}, "links are not allowed"),
    ("fifo", {"type": tarfile.FIFOTYPE}, "not a regular file"),
    ("extra.bin", {}, "not listed in the manifest"),
])
def test_opening_refuses_members_that_could_escape(pi_bundle, tmp_path, name, fields, message):
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for member_name, data in _members(pi_bundle).items():
            _add(tar, member_name, data)
        _add(tar, name, b"x" * 10, **fields)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EdgeDigitsError, match=message):
        open_bundle(bad, out)
    assert not (tmp_path / "evil").exists() and not any(out.glob("evil"))


def test_opening_refuses_oversized_missing_and_corrupt_members(pi_bundle, tmp_path, monkeypatch):
    corrupt = tmp_path / "corrupt.tar.gz"
    _rewrite(pi_bundle, corrupt, lambda tar, n, d: _add(tar, n, d[:-1] + bytes([d[-1] ^ 1]) if n.endswith("tflite")
                                                         and "int8" in n else d))
    with pytest.raises(EdgeDigitsError, match="model_int8.tflite: sha256 differs"):
        open_bundle(corrupt, tmp_path)
    missing = tmp_path / "missing.tar.gz"
    _rewrite(pi_bundle, missing, lambda tar, n, d: None if n == "golden.npz" else _add(tar, n, d))
    with pytest.raises(EdgeDigitsError, match="golden.npz is listed in the manifest but missing"):
        open_bundle(missing, tmp_path)
    monkeypatch.setattr(bundles, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(EdgeDigitsError, match="limit 1000"):
        open_bundle(pi_bundle, tmp_path)
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar file at all")
    with pytest.raises(EdgeDigitsError, match="not a readable bundle"):
        open_bundle(tmp_path / "junk.tar.gz", tmp_path)


def test_verify_reports_accuracy_agreement_and_latency(pi_bundle, tmp_path, no_tensorflow):
    done = cli("verify", pi_bundle, "--json", "--install", tmp_path / "device", env=no_tensorflow)  # as on a Pi
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["runtime"] == "litert" and verdict["golden"] == 300 and verdict["passed"]
    assert verdict["accuracy"] > 0.9 and abs(verdict["drop_pp"]) <= 0.5 and verdict["agreement"] >= 0.99
    # (How much faster int8 runs is the CPU's: 2.4x float on one, 0.6x on an AVX2 one without VNNI. Speed is
    # benchmarks' to judge; here it is measured and reported.)
    assert verdict["float_max_error"] < 1e-5 and verdict["p50_us"] > 0 and verdict["speedup"] > 0
    assert verdict["current"].startswith("releases/") and (tmp_path / "device" / "current").resolve().is_dir()
    # Every int8 variant the bundle carries is measured here, side by side; the fastest within the budget is the
    # one the release runs.
    (tmp_path / "opened").mkdir()
    carried = open_bundle(pi_bundle, tmp_path / "opened").manifest.bundle["variants"]
    assert carried[0] == "model_int8.tflite" and set(carried) <= {"model_int8.tflite", "model_uint8.tflite"}
    assert [v["artifact"] for v in verdict["variants"]] == carried
    # Picked by a call on a frame's crops, as the live reader makes it (never on one image).
    picked = min((v for v in verdict["variants"] if v["passed"]), key=lambda v: v["frame_us"])
    assert verdict["artifact"] == picked["artifact"] and verdict["frame_us"] == picked["frame_us"]
    assert all(v["speedup"] > 0 and v["p50_us"] <= v["p99_us"] and v["frame_us"] > v["p50_us"]
               for v in verdict["variants"])
    assert verdict["frame_speedup"] == pytest.approx(verdict["float_frame_us"] / verdict["frame_us"])
    current = tmp_path / "device" / "current"
    assert sorted(p.name for p in current.iterdir()) == sorted([MANIFEST, "golden.npz", "model_float32.tflite",
                                                               "verdict.json", *carried])
    assert json.loads((current / MANIFEST).read_text())["bundle"]["runtime_artifact"] == verdict["artifact"]
    table = cli("verify", pi_bundle, env=no_tensorflow).stdout
    assert all(f"| {name}" in table for name in carried) and "(picked)" in table and "| float reference |" in table


def test_verify_times_every_onnx_recipe_carried(quick_export, mnist, tmp_path):
    bundle = tmp_path / "onnx.tar.gz"
    make_bundle(quick_export, mnist.test, bundle, BundleOptions(target="onnx", golden=100))
    done = cli("verify", bundle, "--json")
    verdict = json.loads(done.stdout)
    assert [v["artifact"] for v in verdict["variants"]] == ["model_int8.onnx", "model_int8_float_first.onnx"]
    assert verdict["artifact"] == min(verdict["variants"], key=lambda v: v["frame_us"])["artifact"]
    assert verdict["float_frame_us"] > 0 and all(v["frame_speedup"] > 0 for v in verdict["variants"])


def test_verify_fails_beyond_the_budget_and_on_a_corrupt_bundle(quick_export, mnist, tmp_path):
    strict = tmp_path / "strict.tar.gz"
    make_bundle(quick_export, mnist.test, strict, BundleOptions(target="onnx", golden=300, budget_pp=-100))
    done = cli("verify", strict, "--install", tmp_path / "device")
    assert done.returncode == 1 and "FAILED" in done.stdout and "onnxruntime" in done.stdout
    assert not (tmp_path / "device").exists()  # nothing installed from a bundle that failed
    # ONNX int8 is timed against ONNX float, carried along for that: ONNX Runtime's per-call cost is its own.
    verdict = json.loads(cli("verify", strict, "--json").stdout)
    assert verdict["twin"] == "model_float32.onnx" and verdict["twin_p50_us"] > 0
    assert verdict["speedup"] == pytest.approx(verdict["twin_p50_us"] / verdict["p50_us"])
    corrupt = tmp_path / "corrupt.tar.gz"
    _rewrite(strict, corrupt, lambda tar, n, d: _add(tar, n, d[::-1] if n == "model_int8.onnx" else d))
    assert_one_line_error(cli("verify", corrupt), "model_int8.onnx: sha256 differs")
    assert_one_line_error(cli("bundle", quick_export, "--target", "coral"), "no Edge TPU model")


def test_coral_bundle_needs_the_edge_tpu_or_says_so(quick_export, mnist, tmp_path):
    run = shutil.copytree(quick_export, tmp_path / "run")
    convert(run, mnist, ConvertOptions(target="edgetpu", report=False))
    coral = tmp_path / "coral.tar.gz"
    make_bundle(run, mnist.test, coral, BundleOptions(target="coral", golden=200))
    assert set(_members(coral)) == {MANIFEST, "model_tpu.tflite", "model_float32.tflite", "golden.npz"}
    assert_one_line_error(cli("verify", coral), "Edge TPU not usable")  # no Coral on this machine
    done = cli("verify", coral, "--no-edgetpu", "--json", "--install", tmp_path / "device")  # its CPU twin
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["target"] == "coral" and verdict["runtime"] == "litert" and verdict["passed"]
    # The release runs the Edge TPU model, never its float reference: on the Edge TPU, or on the CPU if told.
    page = np.full((120, 160), 230, np.uint8)
    page[40:68, 60:88] = 255 - mnist.test.images[0]
    cv2.imwrite(str(tmp_path / "page.png"), page)
    release = tmp_path / "device" / "current"
    assert_one_line_error(cli("run", "--source", tmp_path / "page.png", "--model", release, "--headless"),
                          "Edge TPU not usable")
    done = cli("run", "--source", tmp_path / "page.png", "--model", release, "--headless", "--no-edgetpu")
    assert done.returncode == 0 and "model: model_tpu.tflite (uint8, litert)" in done.stdout, done.stdout + done.stderr


def test_bench_runs_on_a_bundle(pi_bundle, no_tensorflow):
    done = cli("bench", pi_bundle, "--rounds", "1", env=no_tensorflow)
    assert done.returncode == 0, done.stderr
    assert "300 golden vectors" in done.stdout and "| tflite | int8 |" in done.stdout


def test_a_new_device_target_is_one_row_of_the_table(quick_export, mnist, tmp_path, monkeypatch):
    """A target added to the table alone — a model of its own (a copy of int8 TFLite under a new variant), on an
    accelerator of its own (one DELEGATES entry) — is exported, bundled, verified, installed, run and benched:
    nothing else names the targets."""
    from edgedigits import targets
    from edgedigits.deploy.verify import verify
    from edgedigits.device import runtime
    from edgedigits.device.live import load_model
    used, real = [], runtime.tflite_interpreter_class

    def interpreter_class():  # the stand-in accelerator's delegate is None: the interpreter runs on the CPU
        interpreter, name = real()
        return (lambda *args, experimental_delegates=None, **kwargs: interpreter(*args, **kwargs)), name

    monkeypatch.setattr(runtime, "tflite_interpreter_class", interpreter_class)
    monkeypatch.setitem(runtime.DELEGATES, "twin", lambda: used.append("twin"))
    monkeypatch.setattr(targets, "EXPORTS", (*targets.EXPORTS, targets.Export("model_twin.tflite", "tflite", "int8",
                                                                              "twin-copy")))
    monkeypatch.setitem(targets.DEVICES, "pi-twin", targets.Device("pi-twin", (targets.Model("tflite", "int8",
                                                                                              "twin-copy"),), "twin"))
    run = tmp_path / "run"
    run.mkdir()
    for name in ("model.keras", "metrics.json"):
        shutil.copy(quick_export / name, run)
    convert(run, mnist, ConvertOptions(report=False))
    assert Manifest.load(run).artifacts[-1].path == "model_twin.tflite"
    twin = tmp_path / "twin.tar.gz"
    make_bundle(run, mnist.test, twin, BundleOptions(target="pi-twin", golden=100))
    verdict = verify(twin, install_root=tmp_path / "device")
    assert verdict.passed and verdict.target == "pi-twin" and verdict.runtime == "litert+twin"
    model = load_model(tmp_path / "device" / "current")
    assert model.path.name == "model_twin.tflite" and model.classifier.runtime == "litert+twin" and len(used) == 2
    release = tmp_path / "device" / "current"  # and benched there, on its golden vectors
    shipped = Manifest.load(release)
    rows = bench(release, bundles.golden_split(release, shipped)[0], rounds=1, repeats=20)
    assert [(r.format, r.precision) for r in rows] == [(a.format, a.precision) for a in shipped.artifacts]
    assert ("tflite", "int8") in [(r.format, r.precision) for r in rows]
    assert all(r.status == "ok" and r.p50_us > 0 for r in rows)
