"""Train the headline zoo models with their best settings and tabulate them against the tutorials.

Usage: python benchmarks/train_zoo.py [--out artifacts/bench_train] [--only conv_net edge_cnn]
Writes <out>/train_zoo.md and .json; each model's run folder is under <out>/<model>.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgedigits.quiet import silenced  # noqa: E402

with silenced():
    import tensorflow  # noqa: F401,E402

from edgedigits.data import load_mnist  # noqa: E402
from edgedigits.train.trainer import TrainConfig, train  # noqa: E402

from common import run_main, save  # noqa: E402

# Best settings found on 2 cores, and the tutorials' published MNIST figure for each.
HEADLINE = (
    (TrainConfig(model="conv_net", epochs=8, augment=True), 0.9934, 0.993),
    (TrainConfig(model="mlp_two_layers", epochs=30, augment=True, lr=1e-3), 0.9868, 0.987),
    (TrainConfig(model="mlp_one_layer", epochs=30, augment=True, lr=1e-3), 0.9831, None),
    (TrainConfig(model="edge_cnn", epochs=13, augment=True), None, 0.995),
    (TrainConfig(model="live_cnn", epochs=12, augment=True), None, None),
)
BUDGET_SECONDS = 600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench_train"))
    parser.add_argument("--only", nargs="*", help="model names to run (default: all headline models)")
    args = parser.parse_args()
    data = load_mnist()
    rows = []
    for config, tutorial, goal in HEADLINE:
        if args.only and config.model not in args.only:
            continue
        start = time.perf_counter()
        result = train(config, data, args.out / config.model)
        wall = time.perf_counter() - start
        metrics = json.loads((result.run_dir / "metrics.json").read_text())
        met = goal is None or (result.test_accuracy >= goal and wall <= BUDGET_SECONDS)
        rows.append({"model": config.model, "params": metrics["params"], "epochs": metrics["epochs_run"],
                     "wall_seconds": round(wall, 1), "test_accuracy": result.test_accuracy,
                     "tutorial": tutorial, "goal": goal, "met": met, "config": asdict(config)})
        print(f"{config.model}: {result.test_accuracy:.2%} in {wall:.0f} s", flush=True)
    lines = [f"Training benchmark: MNIST, full 10,000-image test split, {os.cpu_count()} cores "
             f"({platform.processor() or platform.machine()}), wall time includes evaluation and plots.", "",
             "| model | params | epochs | wall s | test accuracy | tutorial | goal (≤ 600 s) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        tutorial = f"{r['tutorial']:.2%}" if r["tutorial"] else "—"
        goal = f"≥ {r['goal']:.1%} {'met' if r['met'] else 'MISSED'}" if r["goal"] else "—"
        lines.append(f"| {r['model']} | {r['params']:,} | {r['epochs']} | {r['wall_seconds']:.0f} | "
                     f"{r['test_accuracy']:.2%} | {tutorial} | {goal} |")
    table = "\n".join(lines) + "\n"
    save(args.out, "train_zoo", table, rows)


if __name__ == "__main__":
    run_main(main)
