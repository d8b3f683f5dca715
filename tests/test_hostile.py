"""The project tried as an attacker and a careless user would: bombs, silent data loss, bad manifests and bundles,
a serve that must stay up and honest. (Deploy injection is tried against a real sshd in test_deploy.py.)"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedigits import EdgeDigitsError
from edgedigits.deploy.bundle import BundleOptions, make_bundle, open_bundle
from edgedigits.footage import FootageOptions, render_video
from edgedigits.manifest import MANIFEST, sha256_file
from tests.conftest import assert_one_line_error, cli
from tests.test_serve import _get, _multipart, page_png, server  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def video(mnist, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "page.mp4"
    render_video(path, mnist.test, FootageOptions(frames=40, digits=(4, 8), seed=7))
    return path


@pytest.fixture(scope="module")
def bomb_png(tmp_path_factory) -> Path:
    """A 400 KB PNG of 20000x20000 pixels: 1.2 GB once decoded to BGR."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    cv2.imwrite(str(path), np.zeros((20000, 20000), np.uint8))
    assert path.stat().st_size < 1 << 20
    return path


def _peak_rss_mb(pid: int) -> float:
    return int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmHWM")).split()[1]) / 1024


# ---- bombs ------------------------------------------------------------------------------------------------------

def test_a_pixel_bomb_is_refused_by_run_in_one_line_and_little_memory(quick_export, bomb_png):
    start = time.perf_counter()
    done = cli("run", "--source", bomb_png, "--model", quick_export, "--headless")
    assert_one_line_error(done, "megapixel")
    assert time.perf_counter() - start < 20


def test_a_pixel_bomb_posted_to_serve_is_a_quick_400_and_healthz_stays_up(video, quick_export, bomb_png):
    with server(video, quick_export) as (base, process):
        for _ in range(2):  # the second once the workers are up: the first may wait for them to load their models
            start = time.perf_counter()
            status, body = _get(base + "/api/predict", bomb_png.read_bytes(), timeout=30)
            assert status == 400 and "megapixel" in json.loads(body)["error"]
        assert time.perf_counter() - start < 2
        assert _get(base + "/healthz", timeout=2)[0] == 200
        assert _peak_rss_mb(process.pid) < 600


def test_multipart_uploads_are_bounded_in_size_parts_and_nesting(video, quick_export, page_png):
    boundary = "b0undary"
    many = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n".encode()
                    for i in range(100_000)) + f"--{boundary}--\r\n".encode()
    multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    few = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n".encode()
                   for i in range(20)) + f"--{boundary}--\r\n".encode()
    inner = _multipart("image", "page.png", page_png)[0]
    nested = (f"--{boundary}\r\nContent-Type: multipart/mixed; boundary=testboundary123\r\n\r\n".encode() + inner
              + f"\r\n--{boundary}--\r\n".encode())
    with server(video, quick_export) as (base, process):
        start = time.perf_counter()
        status, body = _get(base + "/api/predict", many, multipart, timeout=30)
        assert status == 413 and time.perf_counter() - start < 3
        status, body = _get(base + "/api/predict", few, multipart)
        assert status == 400 and "no image in the first" in json.loads(body)["error"]
        status, body = _get(base + "/api/predict", nested, multipart)
        assert status == 400 and "nested" in json.loads(body)["error"]
        for content_type in ("multipart/form-data; boundary=", "multipart/form-data"):
            status, body = _get(base + "/api/predict", b"--x\r\n\r\n", {"Content-Type": content_type})
            assert status == 400 and "multipart" in json.loads(body)["error"], body
        assert _get(base + "/healthz")[0] == 200
    assert "Traceback" not in process.stderr.read()


def test_slow_clients_are_cut_off_and_never_lock_out_healthz(video, quick_export):
    with server(video, quick_export) as (base, process):
        port = int(base.rsplit(":", 1)[1])
        slow = []
        for _ in range(300):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
            slow.append(connection)
        start = time.perf_counter()
        assert _get(base + "/healthz", timeout=5)[0] == 200
        assert time.perf_counter() - start < 2
        slow[-1].settimeout(15)
        assert slow[-1].recv(100) == b""  # closed by the server within its header timeout
        for connection in slow:
            connection.close()
        assert process.poll() is None


# ---- serve stays up and says what happened ----------------------------------------------------------------------

def test_a_live_loop_that_raises_says_failed_closes_streams_and_serving_goes_on(quick_export, page_png, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    page = cv2.imdecode(np.frombuffer(page_png, np.uint8), cv2.IMREAD_COLOR)
    for number in range(3):
        cv2.imwrite(str(folder / f"{number}.png"), page)
    (folder / "3.png").write_bytes(b"half a png")  # a bad image half-way
    cv2.imwrite(str(folder / "4.png"), page)
    with server(folder, quick_export) as (base, process):
        for _ in range(100):
            state = json.loads(_get(base + "/api/status")[1])
            if state["status"] != "running" and state["status"] != "starting":
                break
            time.sleep(0.1)
        assert state["status"] == "failed" and "3.png: not a readable image" in state["failure"]
        start = time.perf_counter()
        status, body = _get(base + "/stream.mjpg", timeout=5)  # ends: it does not hang on a dead loop
        assert status == 200 and time.perf_counter() - start < 5
        assert _get(base + "/api/predict", page_png)[0] == 200 and process.poll() is None


def test_odd_requests_are_one_line_4xx_never_500(video, quick_export, page_png):
    tiny = {shape: cv2.imencode(".png", np.full(shape, 255, np.uint8))[1].tobytes() for shape in ((1, 1), (1, 4000))}
    with server(video, quick_export, "--token", "s3cret") as (base, process):
        auth = {"Authorization": "Bearer s3cret"}
        for data in tiny.values():
            status, body = _get(base + "/api/predict", data, auth)
            assert status == 200 and json.loads(body)["digits"] == []
        status, _ = _get(base + "/api/status", headers={"Authorization": "Bearer t\u00e9st\u00ff".encode().decode("latin-1")})
        assert status == 401
        status, _ = _get(base + "/api/status", headers={**auth, "Host": "attacker.example"})
        assert status == 200  # with a token, any host name may reach the server
    assert "Traceback" not in process.stderr.read()


def test_dns_rebinding_names_are_refused_without_a_token_and_head_has_no_body(video, quick_export):
    with server(video, quick_export) as (base, _):
        status, body = _get(base + "/api/status", headers={"Host": "rebind.attacker.example"})
        assert status == 403 and "loopback host names only" in json.loads(body)["error"]
        for host in ("localhost:1", "127.0.0.1", "[::1]:8080"):
            assert _get(base + "/api/status", headers={"Host": host})[0] == 200, host
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"HEAD /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        head, _, rest = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"multipart/x-mixed-replace" in head and rest == b""


# ---- silent data loss ---------------------------------------------------------------------------------------------

def test_save_never_replaces_a_file_with_nothing(video, quick_export, tmp_path):
    precious = b"the user's own notes"
    for name, extra, words in (("out.txt", [], "a video needs one of"), ("out", [], "a video needs one of"),
                               ("out.mp4", ["--fps", "-1"], "--fps -1"), ("out.mp4", ["--max-frames", "0"], "at least 1")):
        target = tmp_path / name
        target.write_bytes(precious)
        assert_one_line_error(cli("run", "--source", video, "--model", quick_export, "--headless", "--save", target,
                                  *extra), *words)
        assert target.read_bytes() == precious
    copy = shutil.copy(video, tmp_path / "source.mp4")
    before = sha256_file(copy)
    assert_one_line_error(cli("run", "--source", copy, "--model", quick_export, "--headless", "--save", copy),
                          "that is the source")
    assert sha256_file(copy) == before
    empty = tmp_path / "empty"  # a folder whose only image has no readable frame: zero frames
    empty.mkdir()
    (empty / "0.png").write_bytes(b"")
    target = tmp_path / "kept.mp4"
    target.write_bytes(precious)
    done = cli("run", "--source", empty, "--model", quick_export, "--headless", "--save", target)
    assert done.returncode != 0 and target.read_bytes() == precious
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left behind


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_completes_its_video_and_summary(quick_export, mnist, tmp_path, signum, code):
    long = tmp_path / "long.mp4"
    render_video(long, mnist.test, FootageOptions(frames=120, seed=2))
    saved = tmp_path / "saved.mp4"
    # As from a terminal: a shell's background job (make test &) would hand its children Ctrl-C ignored.
    process = subprocess.Popen([sys.executable, "-m", "edgedigits.cli", "run", "--source", str(long), "--model",
                                str(quick_export), "--headless", "--json", "--realtime", "--save", str(saved)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for _ in range(40):  # wait for the first frames
        line = process.stdout.readline()
        if line.startswith('{"frame": 10'):
            break
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "frames in" in stderr and "Traceback" not in stderr
    capture = cv2.VideoCapture(str(saved))
    assert capture.isOpened() and capture.get(cv2.CAP_PROP_FRAME_COUNT) >= 10
    capture.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "long.truth.json", "saved.mp4"]


def test_calibration_build_never_deletes_or_overwrites_what_it_did_not_write(mnist, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(60):
        page = np.full((80, 80), 235, np.uint8)
        page[10:66, 10:66] -= cv2.resize(mnist.test.images[index], (56, 56)) // 2
        cv2.imwrite(str(photos / f"{index % 10}_{index:05d}.png"), page)
    before = {p.name: sha256_file(p) for p in photos.iterdir()}
    assert_one_line_error(cli("calibration", "build", "--from", photos, "--out", photos), "must not be --from")
    assert_one_line_error(cli("calibration", "build", "--from", photos, "--out", photos / "sub"), "must not be --from")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "own_00000.png").write_bytes(b"my own picture")
    assert_one_line_error(cli("calibration", "build", "--from", photos, "--out", mine), "own_00000.png")
    assert (mine / "own_00000.png").read_bytes() == b"my own picture"
    (mine / "keep.png").write_bytes(b"another")
    (mine / "own_00000.png").unlink()
    done = cli("calibration", "build", "--from", photos, "--out", mine)
    assert done.returncode == 0, done.stderr
    assert (mine / "keep.png").read_bytes() == b"another"  # the build's own files only
    assert {p.name: sha256_file(p) for p in photos.iterdir()} == before
    assert cli("calibration", "build", "--from", photos, "--out", mine).returncode == 0  # a rebuild of its own


# ---- manifests and bundles -----------------------------------------------------------------------------------

def _edit_export(quick_export: Path, folder: Path, change) -> Path:
    """A copy of the export whose manifest `change(raw)` edits."""
    copy = shutil.copytree(quick_export, folder, ignore=shutil.ignore_patterns("*.png", "*.keras"))
    raw = json.loads((copy / MANIFEST).read_text())
    change(raw)
    (copy / MANIFEST).write_text(json.dumps(raw))
    return copy


def test_manifest_paths_stay_inside_their_folder(quick_export, mnist, tmp_path):
    def outside(raw):
        raw["artifacts"][0]["path"] = "../../../../../../../etc/passwd"
        raw["artifacts"][0]["sha256"] = sha256_file(Path("/etc/passwd"))
    export = _edit_export(quick_export, tmp_path / "outside", outside)
    assert_one_line_error(cli("bundle", export, "--target", "pi"), "leaves the manifest's folder")

    def absolute(raw):
        int8 = next(a for a in raw["artifacts"] if a["path"] == "model_int8.tflite")
        int8["path"] = str(quick_export.resolve() / "model_int8.tflite")
    export = _edit_export(quick_export, tmp_path / "absolute", absolute)
    assert_one_line_error(cli("run", "--source", tmp_path, "--model", export), "leaves the manifest's folder")

    export = _edit_export(quick_export, tmp_path / "special", lambda raw: None)
    (export / "model_int8.tflite").unlink()
    os.mkfifo(export / "model_int8.tflite")
    assert_one_line_error(cli("run", "--source", tmp_path, "--model", export, timeout=30), "not a regular file")
    (export / "model_int8.tflite").unlink()
    (export / "model_int8.tflite").symlink_to("/dev/zero")
    assert_one_line_error(cli("run", "--source", tmp_path, "--model", export, timeout=30), "leads outside")


def test_bench_turns_bad_artifacts_into_rows(quick_export, tmp_path):
    def bogus(raw):
        for artifact in raw["artifacts"]:
            if artifact["path"] == "model_int8.tflite":
                artifact["input"]["dtype"] = "bogus"
            if artifact["path"] == "model_int8.onnx":
                artifact["format"] = "tflite"
                artifact["path"] = "model_int8_onnx.tflite"
    export = _edit_export(quick_export, tmp_path / "bogus", bogus)
    shutil.copy(export / "model_int8.onnx", export / "model_int8_onnx.tflite")
    done = cli("bench", export, "--rounds", "1")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| model_")]
    assert len(rows) == 8 and "not a dtype" in done.stdout and "not a loadable TFLite model" in done.stdout
    assert sum("failed" in row for row in rows) == 2
    assert all(row.endswith("| ok |") for row in rows if "failed" not in row)


def _rebundle(source: Path, target: Path, change_manifest=None, replace: dict | None = None,
              extra: dict | None = None) -> Path:
    """A copy of a bundle with members replaced or added and the manifest re-hashed to match, as an attacker
    who can write bundles would make it."""
    with tarfile.open(source, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    members.update(replace or {})
    manifest = json.loads(members[MANIFEST])
    for artifact in manifest["artifacts"]:
        data = members[artifact["path"]]
        artifact["sha256"], artifact["bytes"] = __import__("hashlib").sha256(data).hexdigest(), len(data)
    golden = members["golden.npz"]
    manifest["bundle"]["golden"].update(sha256=__import__("hashlib").sha256(golden).hexdigest(), bytes=len(golden))
    if change_manifest:
        change_manifest(manifest)
    members[MANIFEST] = json.dumps(manifest).encode()
    members.update(extra or {})
    with tarfile.open(target, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return target


@pytest.fixture(scope="module")
def pi_bundle(quick_export, mnist, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bundles") / "quick-pi.tar.gz"
    make_bundle(quick_export, mnist.test, path, BundleOptions(target="pi", golden=200))
    return path


def test_verify_refuses_swapped_models_wide_budgets_and_outside_golden(pi_bundle, quick_export, tmp_path):
    other = quick_export / "model_dynamic.tflite"  # another model of the same shape, re-hashed in
    swapped = _rebundle(pi_bundle, tmp_path / "swapped.tar.gz",
                        replace={"model_float32.tflite": other.read_bytes(), "model_int8.tflite": other.read_bytes()})
    done = cli("verify", swapped, "--install", tmp_path / "device")
    if done.returncode == 0:  # the swap may read alike; the float outputs still differ from the workstation's
        pytest.fail(done.stdout)
    assert "not the models that were bundled" in done.stdout and not (tmp_path / "device").exists()
    wide = _rebundle(pi_bundle, tmp_path / "wide.tar.gz", lambda m: m["bundle"].update(budget_pp=100))
    assert_one_line_error(cli("verify", wide), "budget_pp 100")
    away = _rebundle(pi_bundle, tmp_path / "away.tar.gz",
                     lambda m: m["bundle"]["golden"].update(path="../../etc/golden.npz"))
    assert_one_line_error(cli("verify", away), "golden vectors must be golden.npz")
    assert_one_line_error(cli("bundle", quick_export, "--budget-pp", "100"), "at most")


def test_verify_checks_sizes_before_it_writes_anything(pi_bundle, tmp_path):
    unlisted = _rebundle(pi_bundle, tmp_path / "unlisted.tar.gz", extra={"padding.bin": bytes(60 << 20)})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EdgeDigitsError, match="padding.bin not listed"):
        open_bundle(unlisted, out)
    assert [p.name for p in out.iterdir()] == [MANIFEST]  # nothing but the manifest was written
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=np.zeros((100_000, 28, 28), np.uint8), labels=np.zeros(100_000, np.uint8),
                        float_outputs=np.zeros((100_000, 10), np.float32))
    bomb = _rebundle(pi_bundle, tmp_path / "bomb.tar.gz", replace={"golden.npz": buffer.getvalue()})
    done = cli("verify", bomb)
    assert_one_line_error(done, "golden.npz: refused")


def test_sources_by_their_own_names(quick_export, video, tmp_path):
    assert_one_line_error(cli("run", "--source", "", "--model", quick_export), "--source is empty")
    odd = shutil.copy(video, tmp_path / "wow!.mp4")
    done = cli("run", "--source", odd, "--model", quick_export, "--headless", "--max-frames", "3")
    assert done.returncode == 0 and "3 frames in" in done.stdout, done.stderr
