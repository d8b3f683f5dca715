"""Data sets other than the default MNIST: an IDX folder, a Keras-style .npz, a notMNIST-style HDF5 file,
or an image folder with one sub-folder per class."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgedigits.images import read_image
from edgedigits import IMAGE_SUFFIXES, EdgeDigitsError
from edgedigits.data import CLASSES, IDX_SHA256, Dataset, Split, load_idx_dir, load_mnist

TEST_SHARE = 1 / 7  # MNIST's own 10,000 of 70,000, for image folders without a test/ folder


def as_images(array: np.ndarray, source: str) -> np.ndarray:
    """Any (N, 784), (N, 28, 28) or (N, 28, 28, 1) array as uint8 (N, 28, 28) pixels 0..255."""
    array = np.asarray(array)
    if array.ndim == 2 and array.shape[1] == 784 or array.ndim == 4 and array.shape[-1] == 1:
        array = array.reshape(len(array), 28, 28)
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise EdgeDigitsError(f"{source}: image shape={array.shape}, expected (N, 28, 28) or (N, 784)")
    if np.issubdtype(array.dtype, np.floating):
        low, high = float(array.min()), float(array.max())
        if high <= 1.0:  # [0, 1], or notMNIST's [-0.5, 0.5]
            array = (array - min(low, 0.0)) / (high - min(low, 0.0) or 1.0) * 255
    return np.clip(np.round(array), 0, 255).astype(np.uint8)


def as_labels(array: np.ndarray, count: int, source: str) -> np.ndarray:
    labels = np.asarray(array).reshape(-1)
    if len(labels) != count:
        raise EdgeDigitsError(f"{source}: {len(labels)} labels for {count} images")
    if not np.all(np.equal(np.mod(labels, 1), 0)) or labels.min() < 0:
        raise EdgeDigitsError(f"{source}: labels must be whole numbers >= 0")
    return labels.astype(np.int64)


def _split(images, labels, source: str) -> Split:
    images = as_images(images, source)
    return Split(images, as_labels(labels, len(images), source))


def _classes(train: Split, test: Split, names=None) -> tuple[str, ...]:
    count = int(max(train.labels.max(), test.labels.max())) + 1
    if names is not None:
        if len(names) < count:
            raise EdgeDigitsError(f"{len(names)} class names for labels up to {count - 1}")
        return tuple(str(n) for n in names)
    return CLASSES if count <= 10 else tuple(str(i) for i in range(count))


def load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(arrays.files)
            if missing:
                raise EdgeDigitsError(f"{path}: lacks the arrays {sorted(missing)}")
            train = _split(arrays["x_train"], arrays["y_train"], f"{path}:train")
            test = _split(arrays["x_test"], arrays["y_test"], f"{path}:test")
            names = arrays["classes"] if "classes" in arrays.files else None
    except (OSError, ValueError) as exc:
        raise EdgeDigitsError(f"{path}: not a readable .npz ({exc})") from None
    return Dataset(train, test, _classes(train, test, names))


def load_h5(path: Path) -> Dataset:
    """The notMNIST tutorial's data.h5: trainData / testData rows of 784 pixels, the label last."""
    try:
        import h5py
    except ImportError:
        raise EdgeDigitsError("reading HDF5 needs h5py: pip install h5py") from None
    try:
        with h5py.File(path, "r") as h5:
            missing = {"trainData", "testData"} - set(h5.keys())
            if missing:
                raise EdgeDigitsError(f"{path}: lacks the datasets {sorted(missing)}")
            train_rows, test_rows = np.asarray(h5["trainData"]), np.asarray(h5["testData"])
    except OSError as exc:
        raise EdgeDigitsError(f"{path}: not a readable HDF5 file ({exc})") from None
    splits = []
    for name, rows in (("trainData", train_rows), ("testData", test_rows)):
        if rows.ndim != 2 or rows.shape[1] != 785:
            raise EdgeDigitsError(f"{path}:{name}: shape={rows.shape}, expected (N, 785): 784 pixels and a label")
        splits.append(_split(rows[:, :784], rows[:, 784], f"{path}:{name}"))
    return Dataset(splits[0], splits[1], _classes(*splits))


def _read_class_folders(root: Path, classes: list[str]) -> Split:
    images, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            image = read_image(path, cv2.IMREAD_GRAYSCALE)
            images.append(cv2.resize(image, (28, 28), interpolation=cv2.INTER_AREA) if image.shape != (28, 28)
                          else image)
            labels.append(label)
    if not images:
        raise EdgeDigitsError(f"{root}: no images in its class folders")
    return Split(np.stack(images), np.array(labels, np.int64))


def load_image_folder(root: Path, seed: int = 0) -> Dataset:
    """One sub-folder per class (its name is the class name); train/ and test/ level above them if split."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
        return Dataset(_read_class_folders(root / "train", classes), _read_class_folders(root / "test", classes),
                       tuple(classes))
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise EdgeDigitsError(f"{root}: expected the four MNIST IDX files or one sub-folder per class")
    every = _read_class_folders(root, classes)
    order = np.random.default_rng(seed).permutation(len(every))
    n_test = max(1, int(len(order) * TEST_SHARE))
    test, train = order[:n_test], order[n_test:]
    return Dataset(Split(every.images[train], every.labels[train]), Split(every.images[test], every.labels[test]),
                   tuple(classes))


def load_dataset(path: Path | None = None) -> Dataset:
    """The data set at `path` by its kind, or MNIST (found, downloaded and verified) when None."""
    if path is None:
        return load_mnist()
    path = Path(path)
    if not path.exists():
        raise EdgeDigitsError(f"{path}: no such file or folder")
    if path.is_dir():
        if all((path / f"{n}.gz").exists() or (path / n).exists() for n in IDX_SHA256):
            return load_idx_dir(path, verify=False)  # any IDX set: Fashion-MNIST uses the same names
        return load_image_folder(path)
    if path.suffix == ".npz":
        return load_npz(path)
    if path.suffix in (".h5", ".hdf5"):
        return load_h5(path)
    raise EdgeDigitsError(f"{path}: unknown data set kind; give an IDX folder, .npz, .h5 or an image folder")
