"""`edgedigits regress`: fail when an export's int8 figures get worse than a committed baseline."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgedigits import EdgeDigitsError
from edgedigits.manifest import write_atomic
from edgedigits.tables import markdown_table

@dataclass(frozen=True)
class Metric:
    worse_when: int  # +1: it gets worse as it rises; -1: as it falls
    tolerance: float  # the default change let through


METRICS = {"drop_pp": Metric(+1, 0.10), "agreement": Metric(-1, 0.002), "size_ratio": Metric(+1, 0.02)}


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
        return METRICS[self.metric].worse_when * (self.now - self.baseline) > self.tolerance + 1e-12


def _read_json(path: Path, missing: str) -> dict:
    """A JSON file, or one line saying it is `missing` or not JSON."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise EdgeDigitsError(f"{path}: {missing}") from None
    except ValueError as exc:
        raise EdgeDigitsError(f"{path}: not valid JSON ({exc})") from None


def _tolerances(given: dict[str, float] | None, baseline: dict) -> dict[str, float]:
    """Per metric: the one given on the command line, else the baseline's, else the default."""
    kept = baseline.get("tolerance", {})
    return {m: (given or {}).get(m, kept.get(m, metric.tolerance)) for m, metric in METRICS.items()}


def export_figures(export_dir: Path) -> dict[str, dict[str, float]]:
    """Per quantized artifact: drop against float, agreement with float, size ratio — from quantization.json."""
    report = _read_json(Path(export_dir) / "quantization.json", "not found (convert writes it; was --no-report used?)")
    return {a["path"]: {m: a[m] for m in METRICS} for a in report["artifacts"] if a["precision"] != "float32"}


def regress(export_dir: Path, baseline_path: Path, tolerance: dict[str, float] | None = None,
            update: bool = False) -> list[Finding]:
    """Compare with the baseline (or rewrite it with --update); every finding, worse ones flagged."""
    figures = export_figures(export_dir)
    baseline_path = Path(baseline_path)
    if update:
        kept = _read_json(baseline_path, "") if baseline_path.exists() else {}
        write_atomic(baseline_path, json.dumps({"tolerance": _tolerances(tolerance, kept), "artifacts": figures},
                                               indent=2) + "\n")
        return []
    baseline = _read_json(baseline_path, "no baseline (create one with --update)")
    tolerances = _tolerances(tolerance, baseline)
    return [Finding(artifact, metric, expected[metric], figures.get(artifact, {}).get(metric), tolerances[metric])
            for artifact, expected in baseline["artifacts"].items() for metric in METRICS]


def format_findings(findings: list[Finding]) -> str:
    return markdown_table(["artifact", "metric", "baseline", "now", "tolerance", "verdict"], (
        [f.artifact, f.metric, f"{f.baseline:.4f}", "missing" if f.now is None else f"{f.now:.4f}", f"{f.tolerance:.4f}",
         "WORSE" if f.worse else "ok"] for f in findings), right={"baseline", "now", "tolerance"})
