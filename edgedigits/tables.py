"""Markdown tables, the form every report, bench and verdict of the project is printed in."""
from __future__ import annotations

from typing import Collection, Iterable, Sequence


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]], right: Collection[str] = ()) -> str:
    """A header, its alignment row (the columns named in `right` right-aligned, as numbers read best) and rows."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" if c in right else "---" for c in columns) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])
