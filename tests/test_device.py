"""Finding digits in rendered footage, sources that misbehave, and the device-only options of `run`."""
import json
import shutil
import time

import cv2
import numpy as np
import pytest

from edgedigits import EdgeDigitsError
from edgedigits.device.detect import Candidate, choose_reading, digit_crop, find_digits
from edgedigits.device.live import RunOptions, load_model, read_digits, run
from edgedigits.device.normalize import normalize_crop
from edgedigits.device.sources import Capture, Newest, SourceOptions, open_source
from edgedigits.footage import CONDITIONS, FootageOptions, Score, render_frames, render_video, score_frame
from tests.conftest import assert_one_line_error, cli


@pytest.fixture(scope="module")
def model(quick_export):
    return load_model(quick_export)


@pytest.fixture(scope="module")
def short_video(mnist, tmp_path_factory):
    path = tmp_path_factory.mktemp("short") / "short.mp4"
    render_video(path, mnist.test, FootageOptions(frames=12, frames_per_scene=4, seed=3))
    return path


def _score(model, mnist, condition: str, frames: int = 10, min_score: float = 0.5, invert: bool = False,
           steady: bool = False) -> Score:
    """The quick test model is less sure of itself than a fully trained one: a lower threshold by default."""
    score = Score()
    for frame, truth in render_frames(mnist.test, FootageOptions(condition=condition, frames=frames, seed=5)):
        score_frame(read_digits(255 - frame if invert else frame, model, min_score, steady).digits, truth, score)
    return score


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_every_condition_renders_ink_where_the_truth_says(mnist, condition):
    frame, truth = next(render_frames(mnist.test, FootageOptions(condition=condition, seed=2)))
    spec = CONDITIONS[condition]
    fewest, most = (0, 0) if not spec.digits else (4, 16) if spec.layout == "free" else (8, 60)
    assert frame.shape == (480, 640, 3) and fewest <= len(truth) <= most
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    for digit in truth:
        x, y, w, h = digit.box
        assert digit.label in "0123456789" and (10 if spec.scene == "desk" else 15) <= h <= 125
        around = gray[max(0, y - 6):y + h + 6, max(0, x - 6):x + w + 6]
        assert gray[y:y + h, x:x + w].min() < np.percentile(around, 75) - 15  # ink inside each true box


@pytest.mark.parametrize("condition", ["plain", "ruled", "squared", "dim", "shadow", "faint"])
def test_digits_are_read_on_paper_of_every_kind(model, mnist, condition):
    score = _score(model, mnist, condition)
    assert score.f1 >= 0.85, f"{condition}: {score.summary()}"


def test_an_export_is_read_with_its_artifact_fastest_here(quick_export, monkeypatch, tmp_path):
    """serve reads an export with whichever live artifact runs a frame's crops fastest on the machine (int8 TFLite
    was 2.3x slower than int8 ONNX on an AMD EPYC without VNNI), of those its runtimes can load; a model file, or
    one on an accelerator: as given."""
    from edgedigits.device import live
    from edgedigits.manifest import Manifest
    from edgedigits.targets import LIVE, matching
    names = [a.path for a in matching(Manifest.load(quick_export), LIVE, None)]
    assert live.fastest_artifact(quick_export).name in names and len(names) >= 4
    assert live.fastest_artifact(quick_export / "model_int8.onnx") == quick_export / "model_int8.onnx"
    assert live.fastest_artifact(quick_export, accelerator="edgetpu") == quick_export
    for other_us, picked in ((95.0, names[0]), (50.0, names[1])):  # a tenth faster, not less, to leave the first
        timings = {name: [100.0 if name == names[0] else other_us if name == names[1] else 200.0] for name in names}
        monkeypatch.setattr(live, "interleaved_latency_us", lambda classifiers, *_, timings=timings: timings)
        assert live.fastest_artifact(quick_export).name == picked
    monkeypatch.undo()
    monkeypatch.setattr(live, "available_runtimes", lambda: ["litert"])  # a 32-bit Pi: TFLite's runtime only
    assert live.fastest_artifact(quick_export).suffix == ".tflite"
    monkeypatch.undo()
    damaged = shutil.copytree(quick_export, tmp_path / "damaged")
    (damaged / "model_int8.onnx").write_bytes(b"not the model the manifest lists")
    with pytest.raises(EdgeDigitsError, match="model_int8.onnx"):  # refused as load_model would, not passed over
        live.fastest_artifact(damaged)


def test_a_frame_s_crops_are_read_in_calls_of_one_bounded_size(model, mnist):
    """A runtime keeps the memory of its largest batch (ONNX Runtime ~0.25 MB a crop): hundreds of candidates on a
    page of text are read in calls of at most CROPS_A_CALL, all of one size (TFLite reallocates for a new one)."""
    from edgedigits.device import live
    sizes = []
    real_run = model.classifier.run

    def run(batch):
        sizes.append(len(batch))
        return real_run(batch)
    crops = mnist.test.images[:70]
    model.classifier.run = run
    try:
        scores = live._scores(model.classifier, crops)
    finally:
        model.classifier.run = real_run
    assert sizes == [24, 24, 24] and scores.shape[0] == 70
    np.testing.assert_allclose(scores, model.classifier.predict(crops), atol=1e-6)


def test_light_ink_on_dark_paper_is_read_too(model, mnist):
    assert _score(model, mnist, "plain", invert=True).f1 >= 0.85


def test_the_score_threshold_rejects_letters_and_scribbles(model, mnist):
    strict = _score(model, mnist, "distractors", min_score=RunOptions.min_score)
    lax = _score(model, mnist, "distractors", min_score=0.0)
    assert lax.false_positives > 2 * strict.false_positives, (lax.summary(), strict.summary())
    assert strict.recall >= 0.8, strict.summary()


def test_steady_scores_reject_more_letters_and_scribbles(model, mnist):
    plain, steady = _score(model, mnist, "distractors"), _score(model, mnist, "distractors", steady=True)
    # The quick model saw no shifted digits in training, so it loses digits too; the trade-off on a trained
    # model is in benchmarks/live.py --steady.
    assert steady.false_positives < 0.6 * plain.false_positives, (plain.summary(), steady.summary())
    assert steady.precision > plain.precision and steady.correct > 0


def test_touching_digits_are_split(model, mnist):
    page = np.full((160, 320), 235, np.uint8)
    left, right = mnist.test.images[0], mnist.test.images[2]  # a 7 and a 1
    for image, x in ((left, 90), (right, 150)):  # 84 px wide digits, 60 px apart: the strokes touch
        ink = cv2.resize(image, (84, 84), interpolation=cv2.INTER_CUBIC)
        region = page[40:124, x:x + 84]
        region[:] = np.minimum(region, 255 - ink)
    digits = read_digits(cv2.cvtColor(page, cv2.COLOR_GRAY2BGR), model, 0.5).digits
    assert [d["label"] for d in sorted(digits, key=lambda d: d["box"][0])] == ["7", "1"]


def test_choose_reading_keeps_the_surer_reading_of_a_blob():
    blank = np.zeros((28, 28), np.uint8)
    candidates = [Candidate((0, 0, 40, 20), blank, 0), Candidate((0, 0, 20, 20), blank, 0, ((2, 0),)),
                  Candidate((20, 0, 20, 20), blank, 0, ((2, 0),)), Candidate((50, 0, 20, 20), blank, 1)]
    scores = np.eye(10, dtype=np.float32)[[4, 1, 0, 3]] * np.float32([[0.6], [0.95], [0.9], [0.99]])
    chosen = choose_reading(candidates, scores.max(axis=1).tolist())
    assert [(candidates[i].box, int(scores[i].argmax())) for i in chosen] == [((0, 0, 20, 20), 1), ((20, 0, 20, 20), 0),
                                                                             ((50, 0, 20, 20), 3)]
    # Read whole as no digit, surely; split, both parts surely digits: two touching digits, not a word.
    merged = [0.99, 0.98, 0.99, 0.99]
    labels = ["N", "4", "0", "3"]
    split = [(0, 0, 20, 20), (20, 0, 20, 20), (50, 0, 20, 20)]
    whole = [(0, 0, 40, 20), (50, 0, 20, 20)]
    read = lambda: [candidates[i].box for i in choose_reading(candidates, merged, labels)]
    assert read() == split
    merged[2] = 0.8  # one part likely, beside a sure one: still a number
    assert read() == split
    merged[2] = 0.4  # one part unlikely: the blob stays one non-digit
    assert read() == whole
    merged[2], labels[2] = 0.8, "1"  # a weak 1 is a letter's stem as often as a digit
    assert read() == whole
    merged[2] = 0.93  # a 1 cut from the digit it touches, as sure as a digit reported alone (CUT_ONE)
    assert read() == split
    merged[1:3], labels[1:3] = [0.99, 0.8], ["1", "2"]  # a sure stem, the rest of its letter weak: an n as 12
    assert read() == whole
    merged[1:3], labels[1:3] = [0.8, 0.99], ["2", "1"]  # a weak digit left of a sure 1: still a number
    assert read() == split
    candidates[1:3] = candidates[2:0:-1]  # (whatever the order the parts come in)
    assert read() == whole
    candidates[1:3] = candidates[2:0:-1]
    merged[1:3], labels[2] = [0.8, 0.8], "0"  # two parts unsure
    assert read() == whole
    merged[1:3], labels[1:3] = [0.99, 0.99], ["1", "1"]  # sure 1s only: a serif m's or n's stems
    assert read() == whole


def test_a_blob_cut_into_three_1s_or_more_stays_whole():
    """A condensed word ("KaV") read whole as no digit cuts into a sure 1, 6, 1 and 1 (a K's stem, a V's two
    strokes): three 1s are a word's stems, not a number; two are a number (161)."""
    blank = np.zeros((28, 28), np.uint8)
    boxes = [(0, 0, 60, 30), (0, 0, 10, 30), (10, 0, 20, 30), (30, 0, 15, 30), (45, 0, 15, 30), (30, 0, 30, 30)]
    readings = [((1, 0),), ((4, 1), (3, 2)), ((4, 1), (3, 2)), ((4, 1),), ((4, 1),), ((3, 2),)]
    candidates = [Candidate(box, blank, 0, reading) for box, reading in zip(boxes, readings)]
    read = lambda labels: [candidates[i].box for i in choose_reading(candidates, [0.99, 0.99, 0.99, 0.99, 0.99, 0.95],
                                                                     labels)]
    assert read(["N", "1", "6", "1", "1", "N"]) == boxes[:1]
    assert read(["N", "1", "6", "1", "1", "1"]) == [boxes[1], boxes[2], boxes[5]]


def test_on_a_page_of_words_a_blob_read_as_no_digit_stays_whole():
    """A blob read whole as "not a digit" whose parts read as sure digits is two touching digits among
    numbers, but a word whose letters look like digits (an m as 177) where most readings are words."""
    blank = np.zeros((28, 28), np.uint8)

    def page(words: int) -> list[tuple[int, int, int, int]]:
        candidates, surest, labels = [], [], []
        for k in range(1 + words):  # a blob that splits into a 4 and a 0 (read whole as N), then words
            x = 100 * k
            candidates += [Candidate((x, 0, 40, 20), blank, k), Candidate((x, 0, 20, 20), blank, k, ((2, 0),)),
                           Candidate((x + 20, 0, 20, 20), blank, k, ((2, 0),))]
            surest += [0.99, 0.99, 0.99] if k == 0 else [0.99, 0.99, 0.5]
            labels += ["N", "4", "0"] if k == 0 else ["N", "N", "N"]
        return [candidates[i].box for i in choose_reading(candidates, surest, labels)]
    assert page(words=1)[:2] == [(0, 0, 20, 20), (20, 0, 20, 20)]
    assert page(words=3)[0] == (0, 0, 40, 20)


def test_a_1_written_against_a_digit_is_read_beside_it():
    """A 41 run together reads whole as a sure 4 (a 1's stroke hardly changes it); cut in two, as a sure 4 and a
    sure 1. Cut into two other digits as sure as it is whole, a blob stays one digit. Among more parts alike."""
    blank = np.zeros((28, 28), np.uint8)
    candidates = [Candidate((0, 0, 30, 20), blank, 0), Candidate((0, 0, 20, 20), blank, 0, ((2, 1),)),
                  Candidate((20, 0, 10, 20), blank, 0, ((2, 1),))]
    read = lambda labels: [candidates[i].box for i in choose_reading(candidates, [0.99] * len(labels), labels)]
    assert read(["4", "4", "1"]) == [(0, 0, 20, 20), (20, 0, 10, 20)]
    assert read(["4", "4", "7"]) == read(["1", "1", "1"]) == [(0, 0, 30, 20)]
    # 189: its 1 and 8 run together read as a sure 8 beside the 9; as they stand apart, a sure 1, 8 and 9.
    boxes = [(0, 0, 60, 20), (0, 0, 40, 20), (40, 0, 20, 20), (0, 0, 10, 20), (10, 0, 30, 20), (40, 0, 20, 20)]
    readings = [((1, 0),), ((2, 1),), ((2, 1),), ((3, 0),), ((3, 0),), ((3, 0),)]
    candidates = [Candidate(box, blank, 0, reading) for box, reading in zip(boxes, readings)]
    assert read(["N", "8", "9", "1", "8", "9"]) == boxes[3:]
    assert read(["N", "8", "9", "7", "8", "9"]) == boxes[1:3]


def test_a_narrow_blob_read_as_no_digit_is_two_digits_only_beside_a_sure_digit():
    """A 1 written against a 9 makes a blob narrower than two digits, read whole as no digit or as an unsure digit;
    its two sure parts are read where it stands beside a sure digit (in a number), not alone, not beside a 1, and
    never as 11."""
    blank = np.zeros((28, 28), np.uint8)
    boxes = [(0, 0, 30, 40), (40, 0, 30, 40), (40, 0, 10, 40), (50, 0, 20, 40)]
    candidates = [Candidate(boxes[0], blank, 0), Candidate(boxes[1], blank, 1),
                  Candidate(boxes[2], blank, 1, ((2, 1),), narrow=True),
                  Candidate(boxes[3], blank, 1, ((2, 1),), narrow=True)]
    read = lambda labels, first=0.99, whole=0.99: [
        candidates[i].box for i in choose_reading(candidates, [first, whole, 0.99, 0.99], labels)]
    assert read(["6", "N", "1", "9"]) == [boxes[0], boxes[2], boxes[3]]
    assert read(["6", "N", "1", "9"], first=0.9) == boxes[:2]  # the digit beside it not sure
    assert read(["1", "N", "1", "9"]) == read(["6", "N", "1", "1"]) == read(["6", "N", "N", "9"]) == boxes[:2]
    # Read whole as a sure digit, a narrow blob's parts never stand (a 9's stem cut off reads as a sure 1 beside it);
    # as an unsure one, its sure parts do (a 1 against a 7 read whole as a 7 at 0.48).
    assert read(["6", "9", "1", "9"]) == boxes[:2]
    assert read(["6", "7", "1", "9"], whole=0.48) == [boxes[0], boxes[2], boxes[3]]
    candidates[0] = Candidate((0, 100, 30, 40), blank, 0)  # the sure digit on another line
    assert read(["6", "N", "1", "9"]) == [boxes[1], (0, 100, 30, 40)]


def test_among_numbers_a_split_that_leaves_a_part_no_digit_gives_way_to_one_into_digits():
    """893 run together: split in two, an N (the 8 and 9) and a sure 3; in three, a sure 8, a likely 9 and a 3.
    The surer weakest part picks the first; among numbers, the digits win."""
    blank = np.zeros((28, 28), np.uint8)
    boxes = [(0, 0, 60, 20), (0, 0, 40, 20), (40, 0, 20, 20), (0, 0, 20, 20), (20, 0, 20, 20), (40, 0, 20, 20)]
    candidates = [Candidate(box, blank, 0, ((parts, 0),)) for box, parts in zip(boxes, (1, 2, 2, 3, 3, 3))]
    surest, labels = [0.95, 1.0, 1.0, 1.0, 0.8, 1.0], ["N", "N", "3", "8", "9", "3"]
    assert [candidates[i].box for i in choose_reading(candidates, surest, labels)] == boxes[3:]
    labels[4] = "N"  # no split into digits: the surest reading stands
    assert [candidates[i].box for i in choose_reading(candidates, surest, labels)] == boxes[1:3]


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two digits blurred a little, so a one-pixel shift of a thin stroke does not count."""
    a, b = (cv2.GaussianBlur(x.astype(np.float32), (0, 0), 1.5).ravel() for x in (a, b))
    return float(np.corrcoef(a, b)[0, 1])


def test_digit_crop_normalizes_any_size_and_polarity_like_the_device(mnist, model):
    crops, labels = [], []
    for index in range(20):
        image = mnist.test.images[index]
        for size, invert in ((40, True), (60, True), (150, False), (400, True)):
            picture = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
            picture = 255 - picture if invert else picture  # dark ink on light paper, as photographed
            crop = digit_crop(cv2.copyMakeBorder(picture, 10, 10, 10, 10, cv2.BORDER_REPLICATE))
            assert crop is not None and crop.shape == (28, 28)
            assert _similarity(crop, normalize_crop(image)) > 0.75, (index, size, invert)
            crops.append(crop)
            labels.append(mnist.test.labels[index])
    assert (model.classifier.predict(np.stack(crops)).argmax(axis=1) == labels).mean() >= 0.9
    assert digit_crop(np.full((50, 50), 200, np.uint8)) is None


def test_find_digits_ignores_page_edges_and_lines():
    page = np.full((480, 640), 90, np.uint8)
    page[40:440, 60:580] = 225  # a sheet of paper on a dark desk
    for y in range(70, 440, 32):
        cv2.line(page, (60, y), (580, y), 170, 2)  # ruled lines, nothing else
    assert find_digits(cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)) == []


def test_frame_time_grows_sub_linearly_with_digits(model, mnist):
    """One batched inference per frame: 16 digits cost far less than 16 times one."""
    medians = {}
    for count in (1, 16):
        options = FootageOptions(frames=8, digits=(count, count), heights=(24, 40), seed=count)
        medians[count] = np.median([read_digits(f, model, 0.5).ms["total"] for f, _ in render_frames(mnist.test, options)])
    assert medians[16] < 8 * medians[1], medians


def test_newest_skips_warmup_and_counts_dropped_frames(short_video):
    source = Newest(Capture(lambda: cv2.VideoCapture(str(short_video)), "clip"),
                    SourceOptions(warmup=4, reconnects=0))
    time.sleep(0.5)  # the capture thread races ahead of a slow consumer
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    assert len(frames) >= 1 and len(frames) + source.dropped == 12 - 4 and source.dropped > 0
    assert source.failure == ""


def test_a_source_that_stops_is_reopened_then_given_up_on(short_video):
    opened = []

    def open_capture():
        opened.append(time.perf_counter())
        return cv2.VideoCapture(str(short_video))
    source = Newest(Capture(open_capture, "camera 0"), SourceOptions(warmup=0, reconnects=2, backoff=0.05))
    frames = 0
    while source.read() is not None:
        frames += 1
        time.sleep(0.01)
    source.close()
    assert len(opened) == 3 and frames + source.dropped == 36
    assert opened[2] - opened[1] >= 2 * 0.05 * 0.9  # backoff doubles
    assert "camera 0 stopped delivering frames; gave up after 2 reconnects" == source.failure


def test_run_ends_with_a_summary_and_an_error_when_the_camera_dies(short_video, quick_export, monkeypatch):
    from edgedigits.device import live
    monkeypatch.setattr(live, "open_source", lambda spec, options: Newest(
        Capture(lambda: cv2.VideoCapture(str(short_video)), "camera 0"), SourceOptions(warmup=0, reconnects=1,
                                                                                         backoff=0.01)))
    summary = run(RunOptions(source="0", model=quick_export, headless=True), out=open("/dev/null", "w"))
    assert summary.frames + summary.dropped == 24 and "gave up after 1 reconnects" in summary.failure
    assert any(line.startswith("total: p50") for line in summary.lines())


def test_realtime_video_plays_at_its_own_pace(short_video, quick_export):
    start = time.perf_counter()
    done = cli("run", "--source", short_video, "--model", quick_export, "--headless", "--realtime", "--json")
    assert done.returncode == 0, done.stderr
    assert time.perf_counter() - start >= 12 / 10  # 12 frames at 10 fps
    assert "dropped" in done.stdout + done.stderr


def test_folder_of_images_and_save(mnist, quick_export, short_video, tmp_path):
    capture = cv2.VideoCapture(str(short_video))
    for index in range(3):
        ok, frame = capture.read()
        cv2.imwrite(str(tmp_path / f"{index}.jpg"), frame)
    saved = tmp_path / "out" / "annotated.mp4"
    saved.parent.mkdir()
    done = cli("run", "--source", tmp_path, "--model", quick_export, "--json", "--headless", "--save", saved)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 3 and all(line["digits"] for line in lines)
    video = cv2.VideoCapture(str(saved))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 3 and list(saved.parent.iterdir()) == [saved]


def test_device_errors_are_one_line(quick_export, short_video):
    model = quick_export / "model_int8.tflite"
    assert_one_line_error(cli("run", "--source", "picamera", "--model", model), "Picamera2 is not installed")
    assert_one_line_error(cli("run", "--source", "videotestsrc ! appsink", "--model", model), "no GStreamer")
    assert_one_line_error(cli("run", "--source", short_video, "--model", model, "--edgetpu"), "Edge TPU not usable")
    assert_one_line_error(cli("run", "--source", "7", "--model", model), "--source picamera")


def test_open_source_accepts_every_kind_of_file(short_video, tmp_path):
    assert open_source(str(short_video)).read().shape == (480, 640, 3)
    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((20, 30, 3), np.uint8))
    assert open_source(str(tmp_path / "one.png")).read().shape == (20, 30, 3)
