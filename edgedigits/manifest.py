"""manifest.json: the one contract between train, convert and device, and atomic artifact writes."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from edgedigits import EdgeDigitsError

MANIFEST = "manifest.json"
# Every model of this project takes a pixel p (0..255) as the real value p * PIXEL_SCALE: training, calibration
# and the device's input tables all use it, and each manifest states it (`input.scale`), checked on loading.
PIXEL_SCALE = 1 / 255
FORMATS = ("keras", "tflite", "onnx")
PRECISIONS = ("float32", "float16", "int8", "uint8", "dynamic")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; artifacts are shared like any other file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) pixels to a float model's input (N, 28, 28, 1)."""
    return (images.astype(np.float32) / np.float32(round(1 / PIXEL_SCALE)))[..., None]


def write_atomic(path: Path, data: bytes | str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


@dataclass
class InputSpec:
    """How a model's input tensor holds a pixel p in 0..255: q = round(p * scale_in / scale + zero_point)."""
    dtype: str
    scale: float | None = None  # None for float inputs
    zero_point: int | None = None


@dataclass
class Artifact:
    path: str
    format: str
    precision: str
    sha256: str
    bytes: int
    input: InputSpec
    test_accuracy: float | None = None
    variant: str | None = None  # how it was made, where a format has several recipes (ONNX int8)

    @classmethod
    def of_file(cls, directory: Path, path: str, format: str, precision: str, input: InputSpec,
                test_accuracy: float | None = None, variant: str | None = None) -> "Artifact":
        if format not in FORMATS or precision not in PRECISIONS:
            raise ValueError(f"format={format}, precision={precision}, expected one of {FORMATS} / {PRECISIONS}")
        full = Path(directory) / path
        return cls(path, format, precision, sha256_file(full), full.stat().st_size, input, test_accuracy, variant)


@dataclass
class Manifest:
    model: str
    classes: list[str]
    input: dict = field(default_factory=lambda: {"shape": [1, 28, 28, 1], "scale": PIXEL_SCALE, "layout": "NHWC"})
    artifacts: list[Artifact] = field(default_factory=list)
    bundle: dict | None = None  # for a device bundle: target, runtime and reference artifacts, budget, golden file
    failed: list[dict] = field(default_factory=list)  # exports that failed: path, format, precision, status

    def save(self, directory: Path) -> Path:
        path = Path(directory) / MANIFEST
        write_atomic(path, json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: Path) -> "Manifest":
        path = Path(directory) / MANIFEST
        try:
            raw = json.loads(path.read_text())
            artifacts = [Artifact(**{**a, "input": InputSpec(**a["input"])}) for a in raw.pop("artifacts")]
            manifest = cls(**raw, artifacts=artifacts)
        except FileNotFoundError:
            raise EdgeDigitsError(f"{path}: no manifest (run `edgedigits convert` first)") from None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EdgeDigitsError(f"{path}: not a valid manifest ({type(exc).__name__}: {exc})") from None
        for artifact in manifest.artifacts:
            if not isinstance(artifact.path, str) or Path(artifact.path).is_absolute() or ".." in Path(artifact.path).parts:
                raise EdgeDigitsError(f"{path}: artifact path {artifact.path!r} leaves the manifest's folder")
        return manifest

    def find(self, format: str, precision: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.format == format and a.precision == precision), None)

    def verify(self, directory: Path, artifact: Artifact) -> Path:
        """The artifact's path, after checking that it is a regular file inside the folder (not a link out of
        it, a device or a FIFO, which would hang the hash) and its sha256 against the manifest."""
        path = Path(directory) / artifact.path
        if not path.exists():
            raise EdgeDigitsError(f"{path}: listed in the manifest but missing")
        if not path.resolve().is_relative_to(Path(directory).resolve()):
            raise EdgeDigitsError(f"{path}: leads outside {directory}")
        if not stat.S_ISREG(path.stat().st_mode):
            raise EdgeDigitsError(f"{path}: not a regular file")
        if sha256_file(path) != artifact.sha256:
            raise EdgeDigitsError(f"{path}: sha256 differs from the manifest (corrupt or replaced)")
        return path
