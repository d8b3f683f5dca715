"""The device install of Raspberry Pi OS Bookworm, on this Debian bookworm machine (the same userland): apt's numpy
1.24 and OpenCV 4.6, a venv made with --system-site-packages (what apt's Picamera2 needs), `pip install
'edgedigits[pi]'`; then doctor, verify and run, and the system's numpy and OpenCV still the ones in use."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edgedigits.deploy.bundle import BundleOptions, make_bundle
from edgedigits.footage import FootageOptions, render_video, truth_path
from tests.conftest import apt_install

PROJECT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path("/usr/bin/python3")
APT = ("python3-numpy", "python3-opencv", "python3-venv")
SYSTEM_SITE = "/usr/lib/python3/dist-packages"


def _apt_ready() -> str:
    """Debian's numpy, OpenCV and venv, installed when missing and we may; the reason when we cannot."""
    if not SYSTEM_PYTHON.exists() or not shutil.which("dpkg-query"):
        return "not a Debian system: no /usr/bin/python3 or dpkg"
    missing = [p for p in APT if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                                 text=True).stdout != "install ok installed"]
    return apt_install(*missing) if missing else ""


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def pi_venv(tmp_path_factory) -> Path:
    reason = _apt_ready()
    if reason:
        pytest.skip(reason)
    venv = tmp_path_factory.mktemp("pi") / "venv"
    assert _run(SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", venv).returncode == 0
    done = _run(venv / "bin" / "pip", "install", "--quiet", f"{PROJECT}[pi]")
    if done.returncode != 0:
        pytest.skip(f"pip install '[pi]' could not reach a package index: {done.stderr.strip()[-300:]}")
    return venv


def _system_modules(venv: Path) -> tuple[str, str]:
    done = _run(venv / "bin" / "python", "-c", "import numpy, cv2; print(numpy.__version__); print(cv2.__file__)")
    assert done.returncode == 0, done.stderr
    version, opencv = done.stdout.split()
    return version, opencv


def test_the_pi_extra_keeps_the_systems_numpy_and_opencv_and_runs(pi_venv, quick_export, mnist, tmp_path):
    edgedigits = pi_venv / "bin" / "edgedigits"
    numpy_version, opencv = _system_modules(pi_venv)
    assert numpy_version.startswith("1.") and opencv.startswith(SYSTEM_SITE), (numpy_version, opencv)

    done = _run(edgedigits, "doctor", tmp_path / "device", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["numpy"]["value"] == f"{numpy_version} from {SYSTEM_SITE} (the system's)"
    assert checks["opencv"]["value"].startswith("4.") and SYSTEM_SITE in checks["opencv"]["value"]
    assert "ai-edge-litert" in checks["runtimes"]["value"]

    bundle = tmp_path / "quick-pi.tar.gz"
    make_bundle(quick_export, mnist.test, bundle, BundleOptions(target="pi", golden=200))
    done = _run(edgedigits, "verify", bundle, "--json", "--install", tmp_path / "device")
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["passed"] and verdict["runtime"] == "litert" and verdict["accuracy"] > 0.9

    video = tmp_path / "page.mp4"
    render_video(video, mnist.test, FootageOptions(frames=8, frames_per_scene=4, seed=5))
    done = _run(edgedigits, "run", "--source", video, "--model", tmp_path / "device" / "current", "--headless",
                "--min-score", "0.5", "--truth", truth_path(video))
    assert done.returncode == 0, done.stdout + done.stderr
    # The release runs the int8 variant verify found fastest on this CPU.
    assert verdict["artifact"] in ("model_int8.tflite", "model_uint8.tflite")
    assert "8 frames in" in done.stdout and f"model: {verdict['artifact']} (" in done.stdout
    f1 = float(done.stdout.split("F1 ")[1].split(";")[0])
    assert f1 >= 0.8, done.stdout
    done = _run(edgedigits, "doctor", tmp_path / "device")  # now with the release, verified again
    assert done.returncode == 0 and "conv_net for pi, model_" in done.stdout and "on litert" in done.stdout, done.stdout
    assert _system_modules(pi_venv) == (numpy_version, opencv)  # nothing the install did replaced them


def test_doctor_names_a_numpy_that_shadows_the_systems(pi_venv, tmp_path):
    """pip's numpy 2 in such a venv (what the `device` extra brought there before): apt's OpenCV no longer
    imports, and doctor says the numpy is the first thing to fix; other commands say one line, not numpy's page."""
    shadowed = tmp_path / "venv"
    assert _run(SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", shadowed).returncode == 0
    assert _run(shadowed / "bin" / "pip", "install", "--quiet", "numpy>=2").returncode == 0
    # edgedigits as the [pi] venv has it, behind this venv's own numpy 2 (building the project again costs 10 s)
    site = lambda venv: next(Path(venv, "lib").glob("python3*/site-packages"))  # noqa: E731
    (site(shadowed) / "pi-venv.pth").write_text(f"{site(pi_venv)}\n")
    edgedigits = (shadowed / "bin" / "python", "-m", "edgedigits.cli")
    done = _run(*edgedigits, "doctor", cwd=tmp_path)  # not the project's folder, whose edgedigits/ is partial
    assert done.returncode == 1 and "compiled using NumPy 1.x" not in done.stdout + done.stderr
    assert "| numpy | 2." in done.stdout and "| opencv | does not import" in done.stdout
    assert done.stderr.startswith("edgedigits: error: numpy: it shadows the system's numpy 1.")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = _run(*edgedigits, "run", "--source", tmp_path, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith("edgedigits: error: OpenCV does not import")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
