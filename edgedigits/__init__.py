"""edgedigits: handwritten-digit classifiers from a workstation to an edge camera."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edgedigits")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"

# Image files by suffix, everywhere images are read from a folder: those cv2.imread decodes.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class EdgeDigitsError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""
