"""edgedigits: handwritten-digit classifiers from a workstation to an edge camera."""


class EdgeDigitsError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""
