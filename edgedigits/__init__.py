"""edgedigits: handwritten-digit classifiers from a workstation to an edge camera."""
import os


def __getattr__(name: str) -> str:
    """`__version__`, looked up when asked for: importlib.metadata cost every start of the CLI ~20 ms."""
    if name != "__version__":
        raise AttributeError(f"module 'edgedigits' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("edgedigits")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"

# Image files by suffix, everywhere images are read from a folder: those cv2.imread decodes.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class EdgeDigitsError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""


class NotApplicable(EdgeDigitsError):
    """An export that this model cannot have (a recipe for a layer it lacks): skipped, not failed."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message cut to its first line (libraries raise many-line texts), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


# The most pixels an image may have (a 48-megapixel phone photo fits). OpenCV checks it from the header, before
# it allocates anything: a 400 KB PNG can otherwise claim 20000x20000 pixels and take gigabytes to decode.
# OpenCV reads the variable on its own import, so it is set here, before any module of the package imports cv2.
MAX_IMAGE_PIXELS = 50_000_000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))
