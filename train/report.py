"""The run folder's pictures and text: curves, epoch times, confusion, mistakes, data, summary, diagram."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from edgedigits.data import Dataset
from edgedigits.manifest import atomic_path, write_atomic
from edgedigits.train.plots import (plot_class_distribution, plot_confusion, plot_curves, plot_epoch_times,
                                    plot_grid)


def write_summary(model: keras.Model, path: Path) -> None:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    write_atomic(path, "\n".join(lines) + "\n")


def write_diagram(model: keras.Model, path: Path) -> bool:
    """Keras' layer diagram; needs pydot and Graphviz's `dot`, so without them say so in one line."""
    try:
        with atomic_path(path) as tmp:
            keras.utils.plot_model(model, to_file=str(tmp), show_shapes=True, show_layer_names=True, dpi=80)
        return True
    except (ImportError, OSError, FileNotFoundError) as exc:
        print(f"model diagram skipped: {str(exc).splitlines()[0] if str(exc) else 'Graphviz not found'} "
              "(install Graphviz, e.g. apt-get install graphviz)")
        return False


def write_report(run_dir: Path, model: keras.Model, history: dict[str, list[float]], data: Dataset,
                 predicted: np.ndarray, confusion: np.ndarray) -> None:
    """Every picture and text a tutorial reader looks at after training."""
    classes = list(data.classes)
    plot_curves({model.name: history}, "loss", run_dir / "loss.png")
    plot_curves({model.name: history}, "accuracy", run_dir / "accuracy.png")
    plot_epoch_times(history["epoch_seconds"], run_dir / "epoch_times.png")
    plot_confusion(confusion, classes, run_dir / "confusion.png")
    wrong = np.flatnonzero(predicted != data.test.labels)[:40]
    plot_grid(data.test.images[wrong], [f"{classes[data.test.labels[i]]}→{classes[predicted[i]]}" for i in wrong],
              f"misclassified test images (true→predicted), {len(np.flatnonzero(predicted != data.test.labels))} in all",
              run_dir / "misclassified.png")
    plot_class_distribution(data, run_dir / "class_distribution.png")
    samples = np.concatenate([np.flatnonzero(data.train.labels == c)[:5] for c in range(len(classes))])
    plot_grid(data.train.images[samples], [classes[data.train.labels[i]] for i in samples],
              "sample training inputs", run_dir / "samples.png")
    write_summary(model, run_dir / "summary.txt")
    write_diagram(model, run_dir / "model.png")
