"""`edgedigits doctor`: what this device has for running a bundle, and the first thing to fix when it cannot.

It imports no runtime and no OpenCV it does not find: a device missing them is what it is for.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from edgedigits import EdgeDigitsError, first_line
from edgedigits.quiet import quiet_import
from edgedigits.targets import EDGETPU_LIBRARY

MIN_FREE_MB = 200  # a release is a few MB; verify unpacks a bundle beside it; logs and videos need room too
CORAL_USB = {("1a6e", "089a"), ("18d1", "9302")}  # the Coral USB Accelerator before and after its firmware loads
PI_INSTALL = ("on Raspberry Pi OS: apt install python3-numpy python3-opencv, a venv made with "
              "--system-site-packages, pip install 'edgedigits[pi]'; elsewhere: pip install 'edgedigits[device]'")


@dataclass
class Check:
    name: str
    value: str
    problem: str = ""  # what to fix; empty when all is well
    fatal: bool = False  # no bundle runs here until it is fixed


def _site_version(distribution: str) -> tuple[str, str] | None:
    """The version and folder of a distribution installed outside this venv (the system's, which a venv made with
    --system-site-packages sees), or None."""
    own = {os.path.realpath(p) for p in sys.path if p.startswith(sys.prefix)} if sys.prefix != sys.base_prefix else set()
    for folder in sys.path:
        if folder and os.path.realpath(folder) not in own and ("dist-packages" in folder or "site-packages" in folder):
            found = next(iter(importlib.metadata.distributions(name=distribution, path=[folder])), None)
            if found is not None:
                return found.version, folder
    return None


def _origin(module) -> str:
    path = Path(module.__file__).resolve()
    folder = str(path.parent.parent if path.stem == "__init__" else path.parent)  # a package, or one .so
    return "this venv" if sys.prefix != sys.base_prefix and folder.startswith(os.path.realpath(sys.prefix)) \
        else folder


def python() -> Check:
    venv = sys.prefix != sys.base_prefix
    return Check("python", f"{platform.python_version()} {sys.executable}"
                 + (" (venv)" if venv else ""), "" if sys.version_info >= (3, 10) else "edgedigits needs Python ≥ 3.10",
                 fatal=sys.version_info < (3, 10))


def numpy() -> Check:
    try:
        import numpy as np
    except ImportError:
        return Check("numpy", "missing", f"no numpy: {PI_INSTALL}", fatal=True)
    value = f"{np.__version__} from {_origin(np)}"
    system = _site_version("numpy")
    if system and system[0] != np.__version__:
        # Modules built for numpy 1 (apt's OpenCV, Picamera2, simplejpeg) do not import under numpy 2.
        return Check("numpy", value, f"it shadows the system's numpy {system[0]} ({system[1]}), which apt's "
                     "OpenCV and Picamera2 are built for: pip uninstall numpy in this venv, and install "
                     "'edgedigits[pi]'", fatal=system[0].split(".")[0] != np.__version__.split(".")[0])
    return Check("numpy", value + (" (the system's)" if system else ""))


def opencv() -> Check:
    cv2 = quiet_import("cv2")
    if isinstance(cv2, ModuleNotFoundError):
        return Check("opencv", "missing", f"no OpenCV: {PI_INSTALL}", fatal=True)
    if isinstance(cv2, ImportError):  # found, but built for another numpy
        return Check("opencv", f"does not import ({first_line(cv2)})", "install the numpy it was built for",
                     fatal=True)
    gstreamer = next((line.split(":", 1)[1].strip().split()[0] for line in cv2.getBuildInformation().splitlines()
                      if line.strip().startswith("GStreamer:")), "NO")
    return Check("opencv", f"{cv2.__version__} from {_origin(cv2)}, GStreamer {gstreamer}")


def runtimes() -> Check:
    found = []
    for distribution in ("ai-edge-litert", "tflite-runtime", "onnxruntime"):
        try:
            found.append(f"{distribution} {importlib.metadata.version(distribution)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return Check("runtimes", ", ".join(found) or "none",
                 "" if found else f"no runtime to run a model: {PI_INSTALL}", fatal=not found)


def edgetpu() -> Check:
    try:
        ctypes.CDLL(EDGETPU_LIBRARY)
        library = f"{EDGETPU_LIBRARY} loads"
    except OSError:
        library = f"no {EDGETPU_LIBRARY}"
    usb = {(Path(d, "idVendor").read_text().strip(), Path(d, "idProduct").read_text().strip())
           for d in glob.glob("/sys/bus/usb/devices/*") if Path(d, "idVendor").exists()}
    devices = glob.glob("/dev/apex_*") + (["USB Accelerator"] if usb & CORAL_USB else [])
    return Check("edge tpu", f"{library}; device: {', '.join(devices) or 'none'}")


def cameras() -> Check:
    video = sorted(glob.glob("/dev/video*"))
    picamera2 = importlib.util.find_spec("picamera2") is not None
    return Check("cameras", f"V4L2: {', '.join(video) or 'none'}; Picamera2 "
                 + ("importable" if picamera2 else "not importable"))


def free_mb(root: Path) -> tuple[float, Path]:
    """Free space where `root` is or would be made: the first of it and its parents that exists."""
    folder = next((p for p in (root, *root.parents) if p.exists()), Path("/"))
    return shutil.disk_usage(folder).free / 1e6, folder


def disk(root: Path) -> Check:
    free, folder = free_mb(root)
    return Check("disk", f"{free:,.0f} MB free at {folder}",
                 f"under {MIN_FREE_MB} MB free at {folder}" if free < MIN_FREE_MB else "", fatal=free < MIN_FREE_MB)


def memory() -> Check:
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return Check("memory", f"{int(fields['MemAvailable'].split()[0]) / 1e3:,.0f} MB available")
    except (OSError, KeyError, ValueError):
        return Check("memory", "unknown (no /proc/meminfo)")


def release(root: Path) -> Check:
    """The current release, verified again (a failing one is for the next deploy to replace: not fatal)."""
    current = root / "current"
    if not current.exists():
        return Check("release", f"none installed in {root}")
    try:
        from edgedigits.deploy.verify import measure, speed_summary
        from edgedigits.manifest import Manifest
        verdict = measure(current, Manifest.load(current), rounds=2, repeats=50)
    except (EdgeDigitsError, ImportError, OSError, KeyError, TypeError) as exc:
        return Check("release", f"{os.readlink(current)}: cannot be checked", first_line(exc))
    summary = (f"{os.readlink(current)}: {verdict.model} for {verdict.target}, {verdict.artifact} on {verdict.runtime}, accuracy "
               f"{verdict.accuracy:.2%} (drop {verdict.drop_pp:+.2f} pp), {speed_summary(asdict(verdict))}")
    return Check("release", summary, "" if verdict.passed else "the current release fails its verify: deploy "
                 "another or `edgedigits rollback`")


def device_checks(root: Path) -> list[Check]:
    """The checks of the device itself, in the order a person fixes them (quick: nothing is run)."""
    return [python(), numpy(), opencv(), runtimes(), edgetpu(), cameras(), disk(root), memory()]


def diagnose(root: Path) -> list[Check]:
    """Every check; the release is checked only when the device can run it."""
    checks = device_checks(root)
    return checks + ([release(root)] if not any(c.fatal for c in checks) else [])
