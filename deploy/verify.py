"""`edgedigits verify`: on the device, the bundle's quantized model against its float model on the golden vectors."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedigits.deploy import release
from edgedigits.deploy.bundle import golden_split, open_bundle
from edgedigits.device.bench import interleaved_latency_us
from edgedigits.device.runtime import load_artifact, predict_all
from edgedigits.manifest import Manifest, sha256_file
from edgedigits.targets import AUTO, bundled_model

# The float reference here against its outputs on the workstation: kernels differ between CPUs by about 1e-6;
# a larger gap means the models are not the ones the workstation bundled.
FLOAT_TOLERANCE = 1e-3


@dataclass
class Verdict:
    model: str
    target: str
    runtime: str  # the runtime (and delegate) the quantized model ran on
    golden: int
    accuracy: float
    float_accuracy: float
    drop_pp: float
    agreement: float
    float_max_error: float  # the float model here against its outputs on the workstation
    p50_us: float
    p99_us: float
    float_p50_us: float
    float_p99_us: float
    speedup: float
    budget_pp: float
    passed: bool
    current: str = ""  # with --install: the release the device now runs

    @property
    def float_matches(self) -> bool:
        return self.float_max_error <= FLOAT_TOLERANCE

    def table(self) -> str:
        return "\n".join([
            f"{self.model} for {self.target}, {self.golden} golden vectors, runtime {self.runtime}",
            "| model | accuracy | p50 µs | p99 µs |", "|---|---:|---:|---:|",
            f"| quantized | {self.accuracy:.2%} | {self.p50_us:.0f} | {self.p99_us:.0f} |",
            f"| float | {self.float_accuracy:.2%} | {self.float_p50_us:.0f} | {self.float_p99_us:.0f} |",
            f"drop {self.drop_pp:+.2f} pp (budget {self.budget_pp} pp), agreement {self.agreement:.2%}, "
            f"speed-up {self.speedup:.2f}x, float outputs within {self.float_max_error:.1e} of the workstation's"
            + ("" if self.float_matches else f" (over {FLOAT_TOLERANCE:.0e}: not the models that were bundled)")
            + (": PASSED" if self.passed else ": FAILED") + (f"; current -> {self.current}" if self.current else "")])


def check(directory: Path, manifest: Manifest, accelerator: str | None = AUTO, rounds: int = 5,
          repeats: int = 200) -> Verdict:
    """Accuracy, agreement and single-thread latency of the runtime model (on its target's accelerator, or the one
    asked for) and the float reference."""
    info = manifest.bundle
    artifacts = {a.path: a for a in manifest.artifacts}
    runtime, accelerator = bundled_model(manifest, accelerator)
    quantized = load_artifact(directory, manifest, runtime, 1, accelerator)
    reference = load_artifact(directory, manifest, artifacts[info["reference_artifact"]], 1)
    golden, float_outputs = golden_split(directory, manifest)
    scores, float_scores = predict_all(quantized, golden.images), predict_all(reference, golden.images)
    times = interleaved_latency_us({"quantized": quantized, "float": reference}, golden.images[:1], rounds, repeats)
    accuracy = float(np.mean(scores.argmax(axis=1) == golden.labels))
    float_accuracy = float(np.mean(float_scores.argmax(axis=1) == golden.labels))
    drop = (float_accuracy - accuracy) * 100
    p50, p99 = (float(np.percentile(times["quantized"], q)) for q in (50, 99))
    float_p50, float_p99 = (float(np.percentile(times["float"], q)) for q in (50, 99))
    float_error = float(np.abs(float_scores - float_outputs).max())
    return Verdict(manifest.model, info["target"], quantized.runtime, len(golden), accuracy, float_accuracy, drop,
                   float(np.mean(scores.argmax(axis=1) == float_scores.argmax(axis=1))), float_error,
                   p50, p99, float_p50, float_p99, float_p50 / p50, info["budget_pp"],
                   drop <= info["budget_pp"] and float_error <= FLOAT_TOLERANCE)


def verify(bundle: Path, accelerator: str | None = AUTO, install_root: Path | None = None) -> Verdict:
    """Open (checksums first) and check; if it passed and `install_root` is given, install the files as a
    release there and make it current."""
    with tempfile.TemporaryDirectory() as folder:
        manifest = open_bundle(bundle, Path(folder))
        verdict = check(Path(folder), manifest, accelerator)
        if verdict.passed and install_root is not None:
            root = release.release_root(install_root)
            name = release.release_name(manifest.model, manifest.bundle["target"], sha256_file(bundle))
            release.install(Path(folder), root, name)
            verdict.current = release.switch(root, name)
    return verdict
