"""Where frames come from: a camera (V4L2 index, Picamera2, GStreamer), a video, an image or a folder."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edgedigits import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS, EdgeDigitsError
from edgedigits.images import TOO_LARGE, read_image

@dataclass(frozen=True)
class SourceOptions:
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    warmup: int = 10  # frames a camera delivers dark while auto-exposure settles
    reconnects: int = 5  # times a camera that stops delivering is reopened before giving up
    backoff: float = 0.2  # seconds before the first reopen, doubling each time
    realtime: bool = False  # play a video file like a camera: at its own pace, newest frame only


class Source:
    """Frames one by one; read() gives None at the end. `dropped` counts frames never processed."""
    name = ""
    dropped = 0
    failure = ""  # why the source ended early, if it did

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class StillImages(Source):
    def __init__(self, paths: list[Path], name: str):
        self.name, self._paths = name, list(paths)

    def read(self) -> np.ndarray | None:
        return read_image(self._paths.pop(0)) if self._paths else None


class Capture(Source):
    """A cv2.VideoCapture read in the caller's thread: every frame of a file, in order."""

    def __init__(self, open_capture: Callable[[], cv2.VideoCapture], name: str):
        self.name, self._open = name, open_capture
        self.capture = open_capture()
        if not self.capture.isOpened():
            raise EdgeDigitsError(f"{name}: did not open")

    def read(self) -> np.ndarray | None:
        ok, frame = self.capture.read()
        return frame if ok else None

    def reopen(self) -> bool:
        self.capture.release()
        self.capture = self._open()
        return self.capture.isOpened()

    def close(self) -> None:
        self.capture.release()


class Picamera(Source):
    """A Raspberry Pi camera module through Picamera2 (libcamera), which cv2.VideoCapture cannot open."""
    name = "picamera"

    def __init__(self, options: SourceOptions):
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise EdgeDigitsError("Picamera2 is not installed (Raspberry Pi OS: sudo apt install python3-picamera2)") from None
        try:
            self.camera = Picamera2()
            size = (options.width or 640, options.height or 480)
            # RGB888 is BGR in memory: what OpenCV expects, with no conversion per frame.
            config = self.camera.create_video_configuration(main={"size": size, "format": "RGB888"})
            if options.fps:
                config["controls"] = {"FrameRate": options.fps}
            self.camera.configure(config)
            self.camera.start()
        except Exception as exc:  # libcamera raises RuntimeError, IndexError (no camera), ...
            raise EdgeDigitsError(f"picamera did not open: {exc}") from None

    def read(self) -> np.ndarray | None:
        try:
            return self.camera.capture_array()
        except Exception:  # a camera unplugged mid-run
            return None

    def reopen(self) -> bool:
        return False

    def close(self) -> None:
        self.camera.close()


class Newest(Source):
    """A live source read in a thread that keeps only the newest frame, so a slow consumer never works on
    stale frames; it skips the warm-up and reopens a source that stops, with backoff, a bounded number of times."""

    def __init__(self, source: Source, options: SourceOptions, pace: float | None = None):
        self.name, self._source, self._options, self._pace = source.name, source, options, pace
        self._frame: np.ndarray | None = None
        self._fresh = threading.Condition()
        self._ended = False
        self._thread = threading.Thread(target=self._run, name=f"capture {self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        reconnects, skip = 0, self._options.warmup
        while not self._ended:
            start = time.perf_counter()
            frame = self._source.read()
            if frame is None:
                if not self._options.reconnects:  # a file played in real time: its end is the end
                    break
                if reconnects >= self._options.reconnects or not self._reconnect(reconnects):
                    self.failure = f"{self.name} stopped delivering frames; gave up after {reconnects} reconnects"
                    break
                reconnects, skip = reconnects + 1, self._options.warmup
                continue
            if skip > 0:
                skip -= 1
                continue
            with self._fresh:
                if self._frame is not None:
                    self.dropped += 1
                self._frame = frame
                self._fresh.notify()
            if self._pace:  # a file played like a camera: wait out the rest of the frame interval
                time.sleep(max(0.0, self._pace - (time.perf_counter() - start)))
        with self._fresh:
            self._ended = True
            self._fresh.notify()

    def _reconnect(self, attempt: int) -> bool:
        time.sleep(self._options.backoff * 2 ** attempt)
        reopen = getattr(self._source, "reopen", None)
        return bool(reopen and reopen())

    def read(self) -> np.ndarray | None:
        with self._fresh:
            while self._frame is None and not self._ended:
                self._fresh.wait(timeout=1.0)
            frame, self._frame = self._frame, None
            return frame

    def close(self) -> None:
        with self._fresh:
            self._ended = True
        self._thread.join(timeout=2.0)
        self._source.close()


def _camera(spec, name: str, options: SourceOptions, api: int = cv2.CAP_ANY) -> Capture:
    def open_capture() -> cv2.VideoCapture:
        capture = cv2.VideoCapture(spec, api)
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, options.width), (cv2.CAP_PROP_FRAME_HEIGHT, options.height),
                            (cv2.CAP_PROP_FPS, options.fps)):
            if value:
                capture.set(prop, value)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # V4L2 queues frames; the capture thread drops the rest
        return capture
    return Capture(open_capture, name)


def open_source(spec: str, options: SourceOptions = SourceOptions()) -> Source:
    """Open `spec` or fail at once with one line saying why."""
    if spec == "picamera":
        return Newest(Picamera(options), options)
    if spec.isdigit():
        try:
            return Newest(_camera(int(spec), f"camera {spec}", options), options)
        except EdgeDigitsError:
            raise EdgeDigitsError(f"camera {spec} did not open (no such device, or busy; a Raspberry Pi camera "
                                  "module on Bookworm needs --source picamera, not V4L2)") from None
    path = Path(spec)
    if not spec.strip():
        raise EdgeDigitsError("--source is empty: give a camera index, picamera, a pipeline, a file or a folder")
    if "!" in spec and not path.exists():  # a GStreamer pipeline (a file may have a ! in its name)
        if "GStreamer:                   YES" not in cv2.getBuildInformation():
            raise EdgeDigitsError("this OpenCV build has no GStreamer (pip wheels lack it; use the system's "
                                  "python3-opencv for pipelines)")
        return Newest(_camera(spec, "gstreamer pipeline", options, cv2.CAP_GSTREAMER), options)
    if not path.exists():
        raise EdgeDigitsError(f"{spec}: no such file or folder")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return _stills(path, spec)
    return _video(path, spec, options)


def _stills(path: Path, spec: str) -> StillImages:
    """A folder of images, or one image (decoded once here, so that a bad one fails at once)."""
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise EdgeDigitsError(f"{spec}: no images in this folder")
        return StillImages(images, spec)
    read_image(path)
    return StillImages([path], spec)


def _video(path: Path, spec: str, options: SourceOptions) -> Source:
    """A video file, probed for a first frame and its size; with `realtime`, played at its own pace."""
    try:
        video = Capture(lambda: cv2.VideoCapture(str(path)), spec)
    except EdgeDigitsError:
        raise EdgeDigitsError(f"{spec}: not a readable video") from None
    if video.capture.get(cv2.CAP_PROP_FRAME_COUNT) <= 0 and not video.capture.grab():
        raise EdgeDigitsError(f"{spec}: not a readable video")
    if video.capture.get(cv2.CAP_PROP_FRAME_WIDTH) * video.capture.get(cv2.CAP_PROP_FRAME_HEIGHT) > MAX_IMAGE_PIXELS:
        video.close()
        raise EdgeDigitsError(f"{spec}: frames {TOO_LARGE}")
    video.reopen()  # rewind past the probing grab
    if options.realtime:
        fps = video.capture.get(cv2.CAP_PROP_FPS) or 30.0
        return Newest(video, SourceOptions(warmup=0, reconnects=0), pace=1.0 / fps)
    return video
