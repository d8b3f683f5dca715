"""What every benchmark script does with its result: a Markdown table and its rows as JSON, side by side."""
from __future__ import annotations

import json
from pathlib import Path

from edgedigits.manifest import write_atomic


def save(out: Path | None, name: str, table: str, rows: list[dict]) -> None:
    """Print the table; with an output folder, also write <name>.md and <name>.json there."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / f"{name}.md", table)
        write_atomic(out / f"{name}.json", json.dumps(rows, indent=2) + "\n")
    print(table)
