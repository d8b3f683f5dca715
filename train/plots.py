"""PNG plots of a training run."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless workstations and CI have no display
import matplotlib.pyplot as plt  # noqa: E402

from edgedigits.manifest import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def plot_curves(history: dict[str, list[float]], metric: str, title: str, path: Path) -> Path:
    """Train vs validation curve of one metric, per epoch."""
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(history[metric]) + 1)
    ax.plot(epochs, history[metric], marker="o", label="train")
    if f"val_{metric}" in history:
        ax.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
    ax.set(xlabel="epoch", ylabel=metric, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)
