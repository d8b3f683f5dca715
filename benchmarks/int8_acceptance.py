"""Convert trained runs (ONNX int8 recipe picked by speed) and hold their int8 artifacts to the acceptance goals:
TFLite int8 drop ≤ 0.10 pp, agreement ≥ 99.8 %, size ≤ 0.30x, speed-up ≥ 1.8x; ONNX int8 drop ≤ 0.10 pp,
size ≤ 0.35x, speed-up ≥ 1.3x — full test split, single thread.

Usage: python benchmarks/int8_acceptance.py RUN... [--out artifacts/bench_int8]   (runs from benchmarks/train_zoo.py)
"""
from __future__ import annotations

import argparse
import os
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgedigits.convert.export import ConvertOptions, convert  # noqa: E402
from edgedigits.data import load_mnist  # noqa: E402
from edgedigits.device.bench import bench, write_bench  # noqa: E402

from common import run_main, save  # noqa: E402

GOALS = {"tflite": {"drop_pp": 0.10, "agreement": 0.998, "size": 0.30, "speedup": 1.8},
         "onnx": {"drop_pp": 0.10, "agreement": None, "size": 0.35, "speedup": 1.3}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    data = load_mnist()
    lines = ["| model | format | float acc | int8 acc | drop pp | agreement | size x | speed-up | goals |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    rows = []
    for run in args.runs:
        convert(run, data, ConvertOptions(pick_fastest=True, report=False))
        table = {(r.format, r.precision): r for r in bench(run, data.test)}
        write_bench(run, list(table.values()), threads=1)
        for fmt, goal in GOALS.items():
            int8, float32 = table[(fmt, "int8")], table[(fmt, "float32")]
            size = int8.kb / float32.kb
            missed = [name for name, ok in (
                ("drop", int8.drop_pp <= goal["drop_pp"]),
                ("agreement", goal["agreement"] is None or int8.agreement >= goal["agreement"]),
                ("size", size <= goal["size"]), ("speed-up", int8.speedup >= goal["speedup"])) if not ok]
            lines.append(f"| {run.name} | {fmt} | {float32.accuracy:.2%} | {int8.accuracy:.2%} | {int8.drop_pp:+.2f} | "
                         f"{int8.agreement:.2%} | {size:.2f} | {int8.speedup:.2f}x | "
                         f"{'met' if not missed else 'MISSED: ' + ', '.join(missed)} |")
            rows.append({"model": run.name, **asdict(int8), "size_ratio": size, "missed": missed})
            print(lines[-1], flush=True)
    save(args.out, "int8_acceptance", "\n".join(lines) + "\n", rows)


if __name__ == "__main__":
    run_main(main)
