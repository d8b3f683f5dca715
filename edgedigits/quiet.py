"""Silence native libraries' console chatter (TensorFlow's absl logs, converter prints) unless they fail."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Send fd 1 and 2 to a temp file for the block; replay it on stderr if the block raises."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile(mode="w+b") as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
        try:
            yield
        except BaseException:
            _restore(saved)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            _restore(saved)


def quiet_import(name: str):
    """A module, or the ImportError that stopped it, with nothing printed: numpy 2 prints a page on stderr
    before it refuses a module built for numpy 1 (Debian's OpenCV in a venv that pip's numpy shadows)."""
    import importlib
    with silenced():
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            return exc


def _restore(saved: dict[int, int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, copy in list(saved.items()):
        os.dup2(copy, fd)
        os.close(copy)
        del saved[fd]
