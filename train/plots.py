"""Figures of training runs (matplotlib only, so comparing runs needs no TensorFlow)."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # workstations over SSH and CI have no display
import matplotlib.pyplot as plt  # noqa: E402

from edgedigits.data import Dataset  # noqa: E402
from edgedigits.manifest import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def plot_curves(histories: dict[str, dict[str, list[float]]], metric: str, path: Path) -> Path:
    """Train (dashed) and validation (solid) curves of one metric, one colour per run."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (name, history), colour in zip(histories.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 9):
        epochs = range(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], "--", color=colour, label=f"{name} train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "-o", color=colour, markersize=3, label=f"{name} validation")
    ax.set(xlabel="epoch", ylabel=metric, title=metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_epoch_times(seconds: list[float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(range(1, len(seconds) + 1), seconds)
    ax.set(xlabel="epoch", ylabel="seconds", title=f"epoch wall time (total {sum(seconds):.0f} s)")
    return save_figure(fig, path)


def plot_confusion(confusion: np.ndarray, classes: list[str], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(np.log1p(confusion), cmap="Blues")
    for (row, col), count in np.ndenumerate(confusion):
        if count:
            ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
                    color="white" if row == col else "black")
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xticklabels=classes, yticklabels=classes,
           xlabel="predicted", ylabel="true", title="test confusion matrix")
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    return save_figure(fig, path)


def plot_grid(images: np.ndarray, titles: list[str], title: str, path: Path, columns: int = 10) -> Path:
    """Images in rows of `columns`, each titled: one mosaic in one axes (a subplot each took 5 s a grid)."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    height, width = images.shape[1:3] if len(images) else (28, 28)
    cell_h, cell_w = height + height // 2, width + width // 6  # room for each title above its image
    mosaic = np.full((rows * cell_h, columns * cell_w), np.nan)
    fig, ax = plt.subplots(figsize=(columns * 1.1, rows * 1.25))
    for index, (image, text) in enumerate(zip(images, titles)):
        top, left = index // columns * cell_h + height // 2, index % columns * cell_w
        mosaic[top:top + height, left:left + width] = image
        ax.text(left + width / 2, top - 1, text, ha="center", va="bottom", fontsize=8)
    colours = plt.get_cmap("gray").with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(mosaic), cmap=colours, interpolation="nearest")
    ax.axis("off")
    ax.set_title(title)
    return save_figure(fig, path)


def plot_class_distribution(data: Dataset, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    positions = np.arange(len(data.classes))
    for offset, (name, split) in zip((-0.2, 0.2), (("train", data.train), ("test", data.test))):
        counts = np.bincount(split.labels, minlength=len(data.classes))
        ax.bar(positions + offset, counts / counts.sum() * 100, width=0.4, label=f"{name} ({len(split):,})")
    ax.set(xticks=positions, xticklabels=data.classes, ylabel="% of split", title="class distribution")
    ax.legend()
    return save_figure(fig, path)
