"""calibration_data/: the images int8 conversion is calibrated on, read from and written to a folder."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import cv2
import numpy as np

from edgedigits import IMAGE_SUFFIXES, EdgeDigitsError
from edgedigits.data import Split
from edgedigits.device.detect import digit_crop
from edgedigits.images import read_image
from edgedigits.manifest import sha256_file, write_atomic

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "calibration_data"
MIN_IMAGES = 50


def load_calibration(directory: Path = DEFAULT_DIR, min_images: int = MIN_IMAGES) -> np.ndarray:
    """All 28x28 calibration images of a folder as uint8 (N, 28, 28), white digit on black."""
    directory = Path(directory)
    if not directory.is_dir():
        raise EdgeDigitsError(f"{directory}: calibration folder not found")
    listed = _listed(directory)
    files = sorted(directory / name for name in listed) if listed else sorted(
        p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    images = []
    for path in files:
        image = read_image(path, cv2.IMREAD_GRAYSCALE)
        if image.shape != (28, 28):
            raise EdgeDigitsError(f"{path}: size={image.shape[1]}x{image.shape[0]}, expected=28x28")
        images.append(image)
    if len(images) < min_images:
        raise EdgeDigitsError(f"{directory}: {len(images)} calibration images, need at least {min_images}")
    return np.stack(images)


def build_calibration(train: Split, directory: Path, per_class: int, seed: int = 0) -> int:
    """Write `per_class` train-split images of each class as PNGs plus manifest.csv; returns the count."""
    rng = np.random.default_rng(seed)
    images = []
    for label in np.unique(train.labels):
        indices = rng.choice(np.flatnonzero(train.labels == label), per_class, replace=False)
        images += [(f"{label}_{index:05d}.png", train.images[index], str(label), str(index)) for index in sorted(indices)]
    return _write(directory, images)


def build_from_images(source: Path, directory: Path) -> tuple[int, list[Path]]:
    """Calibration images cut from the user's own pictures (any size, either polarity), normalized exactly as
    the device normalizes camera crops; a class folder's name is its images' label. Returns the count written
    and the pictures in which no digit was found."""
    source = Path(source)
    if not source.is_dir():
        raise EdgeDigitsError(f"{source}: folder of images not found")
    if source.resolve().is_relative_to(Path(directory).resolve()) or \
            Path(directory).resolve().is_relative_to(source.resolve()):
        raise EdgeDigitsError(f"--out {directory}: must not be --from {source} or a folder inside it (or around it)")
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EdgeDigitsError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    images, empty = [], []
    for number, path in enumerate(files):
        picture = read_image(path, cv2.IMREAD_GRAYSCALE)
        crop = digit_crop(picture)
        if crop is None:
            empty.append(path)
            continue
        label = path.parent.name if path.parent != source else ""
        images.append((f"own_{number:05d}.png", crop, label, str(path.relative_to(source))))
    if len(images) < MIN_IMAGES:
        raise EdgeDigitsError(f"{source}: digits found in {len(images)} of {len(files)} images, "
                              f"calibration needs at least {MIN_IMAGES}")
    return _write(directory, images), empty


def _listed(directory: Path) -> list[str]:
    """The files an earlier build wrote, by its manifest.csv; empty for a folder of the user's own images."""
    try:
        with open(directory / "manifest.csv", newline="") as f:
            return [row["file"] for row in csv.DictReader(f)]
    except FileNotFoundError:
        return []
    except (OSError, KeyError, csv.Error) as exc:
        raise EdgeDigitsError(f"{directory / 'manifest.csv'}: not a calibration manifest ({exc})") from None


def _write(directory: Path, images: list[tuple[str, np.ndarray, str, str]]) -> int:
    """PNGs (name, 28x28 image, label, source) and manifest.csv, which lists what this build wrote. Only the
    files of an earlier build (its manifest.csv) may be overwritten; nothing is deleted."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ours = set(_listed(directory))
    clashes = [name for name, *_ in images if (directory / name).exists() and name not in ours]
    if (directory / "manifest.csv").exists() and not ours or clashes:
        found = ", ".join(clashes[:3]) or "manifest.csv"
        raise EdgeDigitsError(f"{directory}: holds files no calibration build wrote ({found}); choose an empty "
                              "folder for --out")
    rows = []
    for name, image, label, origin in images:
        ok, png = cv2.imencode(".png", image)
        write_atomic(directory / name, png.tobytes())
        rows.append((name, label, origin, sha256_file(directory / name)))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("file", "label", "source", "sha256"))
    writer.writerows(rows)
    write_atomic(directory / "manifest.csv", text.getvalue())
    return len(rows)
