"""`edgedigits serve` as users meet it: a real server process, real HTTP, and a real headless Chromium."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedigits.footage import FootageOptions, render_video
from tests.conftest import apt_install, assert_one_line_error, cli, free_port

CHROMIUM = Path("/usr/bin/chromium")


def _get(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@contextlib.contextmanager
def server(source, model, *extra: str, env: dict | None = None):
    """`edgedigits serve` on a free loopback port, up and healthy, stopped afterwards."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "edgedigits.cli", "serve", "--source", str(source),
                                "--model", str(model), "--port", str(port), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if process.poll() is not None:
                raise AssertionError(f"serve exited: {process.stderr.read()}")
            with contextlib.suppress(OSError):
                if _get(f"{base}/healthz", timeout=1)[0] == 200:
                    break
            time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def long_video(mnist, tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "desk.mp4"
    render_video(path, mnist.test, FootageOptions(frames=300, frames_per_scene=50, digits=(6, 10), seed=4))
    return path


@pytest.fixture(scope="module")
def page_png(mnist, tmp_path_factory) -> bytes:
    page = np.full((200, 400), 230, np.uint8)
    for slot, index in enumerate([0, 1, 2]):  # MNIST test digits 7, 2, 1 as dark ink
        digit = cv2.resize(mnist.test.images[index], (84, 84), interpolation=cv2.INTER_CUBIC)
        page[50:134, 40 + slot * 120:124 + slot * 120] -= (digit.astype(np.float32) * 0.8).astype(np.uint8)
    return cv2.imencode(".png", page)[1].tobytes()


def _labels(body: bytes) -> list[str]:
    return [d["label"] for d in sorted(json.loads(body)["digits"], key=lambda d: d["box"][0])]


def _multipart(field: str, filename: str, data: bytes) -> tuple[bytes, dict]:
    boundary = "testboundary123"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def _chromium():
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        apt_install("chromium")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed and cannot be installed here")
    return playwright


def test_the_page_shows_the_stream_digits_and_fps_in_chromium(long_video, quick_export, tmp_path):
    playwright = _chromium()
    with server(long_video, quick_export, "--min-score", "0.5") as (base, _), playwright.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update"])
        except Exception as exc:  # noqa: BLE001 - any launch failure means no browser here
            pytest.skip(f"chromium did not start: {str(exc).splitlines()[0]}")
        page = browser.new_page(viewport={"width": 1100, "height": 620})
        page.goto(base + "/", wait_until="domcontentloaded")
        page.wait_for_function("""() => /\\d/.test(document.getElementById('digits').textContent)
                                  && parseFloat(document.getElementById('fps').textContent) > 0
                                  && document.getElementById('stream').naturalWidth > 0""", timeout=20000)
        assert page.text_content("#status") == "running"
        served = json.loads(_get(base + "/api/status")[1])  # of the export's artifacts, the fastest here
        assert page.text_content("#model") == f"{served['model']} · {served['precision']} · {served['runtime']}"
        assert (served["precision"], served["runtime"]) in (("int8", "litert"), ("float32", "litert"),
                                                            ("int8", "onnxruntime"), ("float32", "onnxruntime"))
        assert page.text_content("#p50-total").endswith(" ms")
        shot = tmp_path / "stream.png"
        page.locator("#stream").screenshot(path=str(shot))
        browser.close()
    image = cv2.imread(str(shot))
    assert abs(image.shape[0] - 480) <= 2 and abs(image.shape[1] - 640) <= 2  # the frame at its own size
    assert image.std() > 20  # a picture of paper and ink, not a blank box
    assert (np.abs(image.astype(int) - image[..., :1]).max(axis=2) > 60).mean() > 0.001  # coloured boxes drawn


def test_predict_reads_rendered_digits_raw_and_multipart(long_video, quick_export, page_png, no_tensorflow):
    with server(long_video, quick_export, env=no_tensorflow) as (base, _):  # as on a Pi: no TensorFlow
        status, body = _get(base + "/api/predict", page_png, {"Content-Type": "image/png"})
        assert status == 200 and _labels(body) == ["7", "2", "1"]
        status, body = _get(base + "/api/predict", *_multipart("image", "page.png", page_png))
        assert status == 200 and _labels(body) == ["7", "2", "1"]
        jpeg = cv2.imencode(".jpg", cv2.imdecode(np.frombuffer(page_png, np.uint8), cv2.IMREAD_COLOR))[1].tobytes()
        status, body = _get(base + "/api/predict", jpeg)
        assert status == 200 and _labels(body) == ["7", "2", "1"]
        for _ in range(100):  # the live loop may not have finished its first frame yet
            status, body = _get(base + "/api/latest")
            line = json.loads(body)
            if line["frame"] is not None:
                break
            time.sleep(0.1)
        assert status == 200 and isinstance(line["frame"], int) and set(line["ms"]) == {"preprocess", "inference",
                                                                                       "total"}


def test_bad_requests_get_one_line_json_errors_and_serving_goes_on(long_video, quick_export, page_png):
    with server(long_video, quick_export, "--token", "s3cret") as (base, process):
        auth = {"Authorization": "Bearer s3cret"}
        assert _get(base + "/healthz")[0] == 200  # no token needed
        for path in ("/", "/api/status", "/api/latest", "/stream.mjpg"):
            status, body = _get(base + path)
            assert status == 401 and json.loads(body) == {"error": "missing or wrong token"}, path
        assert _get(base + "/api/status", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert _get(base + "/api/status?token=s3cret")[0] == 200
        status, body = _get(base + "/api/predict", b"this is not an image", auth)
        assert status == 400 and json.loads(body)["error"].startswith("the body is not a PNG or JPEG image")
        status, body = _get(base + "/api/predict", *_multipart("image", "x.png", b"\x89PNG broken"))
        assert status == 401
        status, body = _get(base + "/api/predict", os.urandom(5 << 20), auth)
        assert status == 413 and "upload larger than" in json.loads(body)["error"]
        status, body = _get(base + "/api/predict", page_png, auth)
        assert status == 200 and _labels(body) == ["7", "2", "1"] and process.poll() is None
    assert_one_line_error(cli("serve", "--source", long_video, "--model", quick_export, "--host", "0.0.0.0"),
                          "give --token")
    assert_one_line_error(cli("serve", "--source", long_video, "--model", quick_export, "--workers", "0"),
                          "--workers and --threads must be at least 1")


def _metrics(base: str, auth: dict) -> dict[str, float]:
    """/metrics parsed by prometheus_client's own parser: each sample's value by name and labels."""
    from prometheus_client.parser import text_string_to_metric_families
    status, body = _get(base + "/metrics", headers=auth)
    assert status == 200, body
    return {(s.name + json.dumps(s.labels, sort_keys=True) if s.labels else s.name): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_metrics_rise_while_serving_footage(long_video, quick_export, page_png):
    with server(long_video, quick_export, "--token", "s3cret") as (base, _):
        auth = {"Authorization": "Bearer s3cret"}
        assert _get(base + "/metrics")[0] == 401  # behind the token, like everything but /healthz
        assert _get(base + "/api/predict", page_png, auth)[0] == 200
        assert _get(base + "/api/predict", b"not an image", auth)[0] == 400
        first = _metrics(base, auth)
        time.sleep(1.5)
        second = _metrics(base, auth)
        served = json.loads(_get(base + "/api/status", headers=auth)[1])
    assert 0 < first["edgedigits_frames_total"] < second["edgedigits_frames_total"]
    read = {k: v for k, v in second.items() if k.startswith("edgedigits_digits_total")}
    assert sum(read.values()) > 0 and all('"label": "' in k for k in read)
    assert second["edgedigits_rejected_total"] >= 0 and "edgedigits_frames_dropped_total" in second
    assert second['edgedigits_predict_requests_total{"code": "200"}'] == 1
    assert second['edgedigits_predict_requests_total{"code": "400"}'] == 1
    for stage in ("capture", "preprocess", "inference", "total"):
        count = second[f'edgedigits_stage_seconds_count{{"stage": "{stage}"}}']
        assert count == second["edgedigits_frames_total"] or count >= first["edgedigits_frames_total"]
        finest = second[f'edgedigits_stage_seconds_bucket{{"le": "0.0001", "stage": "{stage}"}}']
        assert finest <= second[f'edgedigits_stage_seconds_bucket{{"le": "0.1", "stage": "{stage}"}}'] <= count
    assert second['edgedigits_stage_seconds_bucket{"le": "0.1", "stage": "total"}'] > 0  # frames under 100 ms
    assert second["edgedigits_camera_fps"] > 0
    info = next(k for k in second if k.startswith("edgedigits_model_info"))
    assert f'"precision": "{served["precision"]}"' in info and f'"runtime": "{served["runtime"]}"' in info
    assert '"sha256": "' in info


def _settled(base: str) -> dict:
    """/api/status once the live loop is no longer starting or running (10 s at most)."""
    for _ in range(100):
        state = json.loads(_get(base + "/api/status")[1])
        if state["status"] not in ("starting", "running"):
            break
        time.sleep(0.1)
    return state


def test_status_tells_a_source_that_ended_or_failed(mnist, quick_export, tmp_path):
    short = tmp_path / "short.mp4"
    render_video(short, mnist.test, FootageOptions(frames=5, seed=1))
    with server(short, quick_export) as (base, _):
        state = _settled(base)
        assert state["status"] == "ended" and state["frames"] == 5
    with server("99", quick_export) as (base, _):
        state = _settled(base)
        assert state["status"] == "failed" and "camera 99 did not open" in state["failure"]
        assert _get(base + "/api/predict", b"x")[0] == 400  # the REST side still serves


def _processes(pid: int) -> list[int]:
    """A process and its descendants (the server and its prediction workers)."""
    children = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()]
    return [pid] + [p for child in children for p in _processes(child)]


def _rss_kb(pid: int) -> dict[int, int]:
    """Resident kB of a process and of each of its descendants, by pid."""
    return {p: int(next(line for line in Path(f"/proc/{p}/status").read_text().splitlines()
                        if line.startswith("VmRSS")).split()[1]) for p in _processes(pid)}


def _predicts_at_once(base: str, image: bytes, count: int) -> list[int]:
    """The statuses of `count` predicts, 8 in flight at a time."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: _get(base + "/api/predict", image)[0], range(count)))


def _cpu_ticks(pid: int) -> int:
    """User and system clock ticks a process has run."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _warmed_up(base: str, image: bytes, pid: int) -> dict[int, int]:
    """RSS by pid once 40 predicts leave each process within 2 MB and every worker ran during them: under load a
    worker may still be loading its model after the first rounds, and its first allocations are not growth."""
    rss = _rss_kb(pid)
    for _ in range(8):
        ticks = {worker: _cpu_ticks(worker) for worker in _workers(pid)}
        assert set(_predicts_at_once(base, image, 40)) == {200}
        rss, previous = _rss_kb(pid), rss
        ran = all(_cpu_ticks(worker) > before for worker, before in ticks.items())
        if ran and rss.keys() == previous.keys() and all(abs(rss[p] - previous[p]) < 2_000 for p in rss):
            break
    return rss


def test_four_viewers_and_hundreds_of_predicts_at_once(long_video, quick_export, page_png):
    with server(long_video, quick_export) as (base, process):
        before = _warmed_up(base, page_png, process.pid)
        frames, errors, stop = [0] * 4, [], threading.Event()

        def view(slot: int) -> None:
            with urllib.request.urlopen(base + "/stream.mjpg", timeout=10) as stream:
                while not stop.is_set():
                    line = stream.readline()
                    if not line:
                        break
                    if line.startswith(b"--edgedigitsframe"):
                        frames[slot] += 1
        viewers = [threading.Thread(target=view, args=(slot,)) for slot in range(4)]
        for viewer in viewers:
            viewer.start()
        statuses = _predicts_at_once(base, page_png, 300)
        time.sleep(1.0)
        viewing = json.loads(_get(base + "/api/status")[1])["viewers"]
        stop.set()
        for viewer in viewers:
            viewer.join(timeout=10)
        after = _rss_kb(process.pid)
    assert statuses == [200] * 300 and not errors
    assert viewing == 4 and min(frames) >= 5 and max(frames) - min(frames) <= 0.3 * max(frames), frames
    assert sum(after.values()) - sum(before.values()) < 40_000, f"RSS by pid grew from {before} kB to {after} kB"


def _workers(pid: int) -> list[int]:
    """The server's prediction worker processes (not multiprocessing's resource tracker)."""
    return [p for p in _processes(pid)[1:] if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def test_predictions_run_in_worker_processes_and_a_killed_one_is_replaced(long_video, quick_export, page_png):
    with server(long_video, quick_export) as (base, process):
        assert _get(base + "/api/predict", page_png)[0] == 200
        workers = _workers(process.pid)
        assert workers, "no prediction worker process"
        os.kill(workers[0], signal.SIGKILL)  # as the kernel's out-of-memory killer would
        time.sleep(0.5)
        status, body = _get(base + "/api/predict", page_png)
        assert status == 503 and "workers restarted" in json.loads(body)["error"]
        status, body = _get(base + "/api/predict", page_png)
        assert status == 200 and _labels(body) == ["7", "2", "1"] and process.poll() is None
        assert _workers(process.pid) and not set(workers) & set(_workers(process.pid))
    assert process.returncode == -signal.SIGTERM or process.returncode == 0
