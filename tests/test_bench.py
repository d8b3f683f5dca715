import json
import shutil

from edgedigits.device.bench import bench, write_bench


def test_bench_walks_every_runtime_artifact(quick_export, mnist, tmp_path):
    rows = bench(quick_export, mnist.test, rounds=2, repeats=50)
    assert [(r.format, r.precision) for r in rows] == [
        ("tflite", "float32"), ("tflite", "float16"), ("tflite", "dynamic"), ("tflite", "int8"), ("tflite", "uint8"),
        ("onnx", "float32"), ("onnx", "int8"), ("onnx", "int8")]
    assert all(r.status == "ok" for r in rows)
    reference = rows[0]
    assert reference.drop_pp == 0 and reference.agreement == 1 and reference.speedup == 1
    for row in rows:
        assert 0.95 < row.accuracy <= 1 and row.agreement > 0.98
        assert 0 < row.p50_us <= row.p99_us and row.frame_us > row.p50_us
    run = shutil.copytree(quick_export, tmp_path / "run")  # quick_export is shared by the session's other tests
    table = write_bench(run, rows, threads=1)
    assert table.count("\n") == len(rows) + 1 and "| model_int8_float_first.onnx | onnx | int8 |" in table
    assert len(json.loads((run / "bench.json").read_text())["rows"]) == 8
    assert "10,000-image" in (run / "bench.md").read_text()


def test_a_corrupt_artifact_becomes_a_failed_row_not_an_abort(quick_export, mnist, tmp_path):
    export = shutil.copytree(quick_export, tmp_path / "export")
    (export / "model_int8.onnx").write_bytes(b"\x00" * 100)
    rows = {r.path: r for r in bench(export, mnist.test, rounds=1, repeats=20)}
    assert rows["model_int8.onnx"].status.startswith("failed:") and "sha256 differs" in rows["model_int8.onnx"].status
    assert rows["model_int8.onnx"].accuracy is None and rows["model_int8_float_first.onnx"].status == "ok"
    assert rows["model_int8.tflite"].status == "ok" and rows["model_float32.onnx"].speedup == 1
