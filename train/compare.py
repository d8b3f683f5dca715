"""`edgedigits compare`: several runs' curves on one figure and a table — which regularizer wins."""
from __future__ import annotations

import json
from pathlib import Path

from edgedigits import EdgeDigitsError
from edgedigits.tables import markdown_table
from edgedigits.train.plots import plot_curves


def _read(run: Path) -> tuple[dict, dict]:
    try:
        return (json.loads((run / "history.json").read_text()), json.loads((run / "metrics.json").read_text()))
    except (OSError, ValueError) as exc:
        raise EdgeDigitsError(f"{run}: not a training run folder ({type(exc).__name__}: {exc})") from None


def compare(runs: list[Path], figure: Path) -> tuple[str, Path]:
    """A Markdown table of the runs, best test accuracy first, and their validation curves in one PNG."""
    histories, rows = {}, []
    for run in map(Path, runs):
        history, metrics = _read(run)
        name = run.name if run.name not in histories else str(run)
        histories[name] = history
        rows.append((metrics["test_accuracy"], [name, metrics["model"], f"{metrics['params']:,}", len(history["loss"]),
                                                f"{max(history.get('val_accuracy', [0])):.2%}",
                                                f"{metrics['test_accuracy']:.2%}", f"{metrics['test_loss']:.4f}",
                                                f"{metrics['train_seconds']:.0f}"]))
    numbers = ["params", "epochs", "best val acc", "test acc", "test loss", "train s"]
    figure = Path(figure)
    plot_curves(histories, "accuracy", figure)
    plot_curves(histories, "loss", figure.with_name(f"{figure.stem}_loss{figure.suffix}"))
    return markdown_table(["run", "model", *numbers], [row for _, row in sorted(rows, key=lambda r: -r[0])],
                          right=numbers), figure
