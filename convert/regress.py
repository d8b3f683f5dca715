"""`edgedigits regress`: fail when an export's int8 figures get worse than a committed baseline."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgedigits import EdgeDigitsError
from edgedigits.manifest import write_atomic

# metric -> (direction in which it gets worse, default tolerance)
METRICS = {"drop_pp": (+1, 0.10), "agreement": (-1, 0.002), "size_ratio": (+1, 0.02)}


@dataclass(frozen=True)
class Finding:
    artifact: str
    metric: str
    baseline: float | None
    now: float | None
    tolerance: float

    @property
    def worse(self) -> bool:
        if self.now is None:
            return True
        direction = METRICS[self.metric][0]
        return direction * (self.now - self.baseline) > self.tolerance + 1e-12


def export_figures(export_dir: Path) -> dict[str, dict[str, float]]:
    """Per quantized artifact: drop against float, agreement with float, size ratio — from quantization.json."""
    path = Path(export_dir) / "quantization.json"
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise EdgeDigitsError(f"{path}: not found (convert writes it; was --no-report used?)") from None
    except ValueError as exc:
        raise EdgeDigitsError(f"{path}: not valid JSON ({exc})") from None
    return {a["path"]: {m: a[m] for m in METRICS} for a in report["artifacts"] if a["precision"] != "float32"}


def regress(export_dir: Path, baseline_path: Path, tolerance: dict[str, float] | None = None,
            update: bool = False) -> list[Finding]:
    """Compare with the baseline (or rewrite it with --update); every finding, worse ones flagged."""
    figures = export_figures(export_dir)
    baseline_path = Path(baseline_path)
    if update:
        kept = json.loads(baseline_path.read_text()).get("tolerance", {}) if baseline_path.exists() else {}
        tolerances = {m: (tolerance or {}).get(m, kept.get(m, default)) for m, (_, default) in METRICS.items()}
        write_atomic(baseline_path, json.dumps({"tolerance": tolerances, "artifacts": figures}, indent=2) + "\n")
        return []
    try:
        baseline = json.loads(baseline_path.read_text())
    except FileNotFoundError:
        raise EdgeDigitsError(f"{baseline_path}: no baseline (create one with --update)") from None
    except ValueError as exc:
        raise EdgeDigitsError(f"{baseline_path}: not valid JSON ({exc})") from None
    tolerances = {m: (tolerance or {}).get(m, baseline.get("tolerance", {}).get(m, default))
                  for m, (_, default) in METRICS.items()}
    return [Finding(artifact, metric, expected[metric], figures.get(artifact, {}).get(metric), tolerances[metric])
            for artifact, expected in baseline["artifacts"].items() for metric in METRICS]


def format_findings(findings: list[Finding]) -> str:
    lines = ["| artifact | metric | baseline | now | tolerance | verdict |", "|---|---|---:|---:|---:|---|"]
    for f in findings:
        now = "missing" if f.now is None else f"{f.now:.4f}"
        lines.append(f"| {f.artifact} | {f.metric} | {f.baseline:.4f} | {now} | {f.tolerance:.4f} | "
                     f"{'WORSE' if f.worse else 'ok'} |")
    return "\n".join(lines)
