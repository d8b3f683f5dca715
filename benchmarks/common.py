"""What every benchmark script does with its result: a Markdown table and its rows as JSON, side by side."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from edgedigits import EdgeDigitsError
from edgedigits.manifest import write_atomic


def save(out: Path | None, name: str, table: str, rows: list[dict]) -> None:
    """Print the table; with an output folder, also write <name>.md and <name>.json there."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / f"{name}.md", table)
        write_atomic(out / f"{name}.json", json.dumps(rows, indent=2) + "\n")
    print(table)


def run_main(main: Callable[[], None]) -> None:
    """A benchmark's main, ended by a bad argument (a model, a photo or a folder not there) with one line naming it
    and a non-zero exit, not a traceback."""
    try:
        main()
    except (EdgeDigitsError, OSError) as error:
        sys.exit(f"error: {error}")
