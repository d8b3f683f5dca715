"""Shared fixtures: real MNIST, and one quickly trained and converted conv_net for the whole session."""
from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgedigits.data import load_mnist  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def venv_fonts():
    """Footage printed in the venv's fonts only (matplotlib's): which frame shows what must not hang on the
    machine's fonts-* packages (CI's differ from a workstation's)."""
    from edgedigits import fonts
    from edgedigits.footage import glyphs
    patch = pytest.MonkeyPatch()
    patch.setattr(fonts, "FONT_FOLDERS", ())
    glyphs.truetype_fonts.cache_clear()
    yield
    patch.undo()
    glyphs.truetype_fonts.cache_clear()


@pytest.fixture(scope="session")
def mnist():
    return load_mnist()


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A session's folder built by the first pytest-xdist worker that asks for it, and shared by the others."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    folder = root / "built_once" / name
    folder.parent.mkdir(exist_ok=True)
    with open(folder.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder.parent / f"{name}.built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            build(folder)
            (folder.parent / f"{name}.built").touch()
    return folder


@pytest.fixture(scope="session")
def quick_export(mnist, tmp_path_factory) -> Path:
    """conv_net trained for 2 epochs on 12,000 images (about 97 %), converted to every artifact."""
    from edgedigits.convert.export import convert
    from edgedigits.train.trainer import TrainConfig, train

    def build(run_dir: Path) -> None:
        train(TrainConfig(model="conv_net", epochs=2, limit=12000, seed=1), mnist, run_dir)
        convert(run_dir, mnist)
    return built_once(tmp_path_factory, "conv_net", build)


@pytest.fixture(scope="session")
def quick_world(mnist, tmp_path_factory) -> Path:
    """live_cnn trained for 3 epochs on a small world data set (11 classes: N is "not a digit"), converted."""
    from edgedigits.convert.export import ConvertOptions, convert
    from edgedigits.data import Dataset
    from edgedigits.train.trainer import TrainConfig, train
    from edgedigits.train.world import world_dataset

    def build(run_dir: Path) -> None:
        small = Dataset(mnist.train.head(15000), mnist.test.head(2000))
        data = world_dataset(small, printed=8000, negative=8000, turned=4000, seed=1)
        train(TrainConfig(model="live_cnn", epochs=3, seed=1), data, run_dir)
        convert(run_dir, mnist, ConvertOptions(report=False))
    return built_once(tmp_path_factory, "live_cnn", build)


@pytest.fixture(scope="session")
def no_tensorflow(tmp_path_factory) -> dict:
    """An environment in which TensorFlow, Keras and tf2onnx cannot be imported, as on a Pi."""
    folder = tmp_path_factory.mktemp("no_tensorflow")
    (folder / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        class NoTensorFlow:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "tf2onnx"):
                    raise ImportError(f"{name} is blocked: device code must not import it")
        sys.meta_path.insert(0, NoTensorFlow())
    """))
    return {"PYTHONPATH": str(folder)}


def apt_install(*packages: str) -> str:
    """Debian packages installed, one apt-get at a time across pytest's workers: '' when done, else why not."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{' '.join(packages)} not installed and this user cannot apt-get install them"
    with open(Path(tempfile.gettempdir()) / "edgedigits-tests-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
        done = subprocess.run(["apt-get", "install", "-y", "-qq", *packages], capture_output=True, text=True,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return "" if done.returncode == 0 else f"apt-get install {' '.join(packages)} failed: {done.stderr.strip()[-200:]}"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, env: dict | None = None, timeout: float = 300, cwd: Path | None = None
        ) -> subprocess.CompletedProcess:
    """Run the real `edgedigits` command in a child process."""
    return subprocess.run([sys.executable, "-m", "edgedigits.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd)


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> None:
    """A non-zero exit with one line on stderr that names the problem, and no traceback."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("edgedigits: error:")]
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
