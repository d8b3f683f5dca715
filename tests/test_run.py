"""The live path on video and images the tests render, through the real command line."""
import json
import shutil

import cv2
import numpy as np
import pytest

from edgedigits.footage import FootageOptions, Score, load_truth, render_video, score_frame
from tests.conftest import assert_one_line_error, cli


@pytest.fixture(scope="module")
def video(mnist, tmp_path_factory):
    path = tmp_path_factory.mktemp("footage") / "digits.mp4"
    render_video(path, mnist.test, FootageOptions(frames=20, seed=7))
    return path


def test_footage_has_truth_for_every_frame(video):
    truth = load_truth(video.with_suffix(".truth.json"))
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == len(truth) == 20
    ok, frame = capture.read()
    assert ok and frame.shape == (480, 640, 3)
    for digit in truth[0]:
        x, y, w, h = digit.box
        assert frame[y:y + h, x:x + w].min() < frame.mean() - 60  # dark ink where the truth says
    assert all(4 <= len(t) <= 16 for t in truth)


def test_run_reads_the_digits_of_a_video(video, quick_export):
    done = cli("run", "--source", video, "--model", quick_export, "--json", "--headless",
               "--truth", video.with_suffix(".truth.json"))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["frame"] for line in lines] == list(range(20))
    assert set(lines[0]["ms"]) == {"preprocess", "inference", "total"}
    truth = load_truth(video.with_suffix(".truth.json"))
    score = Score()
    for line, frame_truth in zip(lines, truth):
        for digit in line["digits"]:
            assert len(digit["box"]) == 4 and digit["label"] in "0123456789" and 0.5 <= digit["score"] <= 1
        score_frame(line["digits"], frame_truth, score)
    assert score.recall >= 0.8 and score.precision >= 0.9, score.summary()
    assert score.summary() in done.stderr


def test_run_reads_an_image_with_a_bare_model_file(mnist, quick_export, tmp_path):
    page = np.full((200, 400), 230, np.uint8)
    for slot, index in enumerate([0, 1, 2]):  # MNIST test digits 7, 2, 1, drawn as dark ink
        digit = cv2.resize(mnist.test.images[index], (84, 84), interpolation=cv2.INTER_CUBIC)
        page[50:134, 40 + slot * 120:124 + slot * 120] -= (digit.astype(np.float32) * 0.8).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "page.png"), page)
    model = tmp_path / "bare.tflite"
    model.write_bytes((quick_export / "model_int8.tflite").read_bytes())
    done = cli("run", "--source", tmp_path / "page.png", "--model", model, "--json", "--headless")
    assert done.returncode == 0, done.stderr
    digits = json.loads(done.stdout)["digits"]
    assert [d["label"] for d in sorted(digits, key=lambda d: d["box"][0])] == ["7", "2", "1"]


def test_bad_inputs_exit_non_zero_with_one_line(tmp_path, quick_export, video):
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "broken.tflite").write_bytes(b"\x00garbage" * 50)
    (tmp_path / "broken.onnx").write_bytes(b"\x00garbage" * 50)
    (tmp_path / "clip.mp4").write_text("not a video")
    model = quick_export / "model_int8.tflite"
    cases = [
        (("--source", tmp_path / "missing.mp4", "--model", model), "no such file"),
        (("--source", tmp_path / "notes.png", "--model", model), "not a readable image"),
        (("--source", tmp_path / "clip.mp4", "--model", model), "not a readable video"),
        (("--source", "99", "--model", model), "camera 99 did not open"),
        (("--source", video, "--model", tmp_path / "broken.tflite"), "not a loadable TFLite model"),
        (("--source", video, "--model", tmp_path / "broken.onnx"), "not a loadable ONNX model"),
        (("--source", video, "--model", tmp_path / "absent.tflite"), "model file not found"),
        (("--source", video, "--model", tmp_path), "no manifest.json"),
    ]
    for args, message in cases:
        assert_one_line_error(cli("run", "--headless", *args), message)


def test_run_imports_no_tensorflow(video, quick_export, no_tensorflow, tmp_path):
    """A Pi has no TensorFlow: make it unimportable and run the whole live path."""
    for model in ("model_int8.tflite", "model_int8.onnx"):
        done = cli("run", "--source", video, "--model", quick_export / model, "--json", "--headless",
                   "--max-frames", "3", env=no_tensorflow)
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.splitlines()) == 3
    run = shutil.copytree(quick_export, tmp_path / "run")  # bench writes its tables beside the artifacts
    done = cli("bench", run, "--rounds", "1", env=no_tensorflow)
    assert done.returncode == 0, done.stderr
