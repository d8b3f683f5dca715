"""`edgedigits verify`: on the device, the bundle's quantized model against its float model on the golden vectors."""
from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgedigits.agreement import against_float
from edgedigits.deploy import release, signing
from edgedigits.deploy.bundle import golden_split, open_bundle
from edgedigits.device.bench import FRAME_CROPS, timings
from edgedigits.device.runtime import load_artifact, predict_all
from edgedigits.manifest import Manifest, sha256_file
from edgedigits.tables import markdown_table
from edgedigits.targets import AUTO, bundled_model, bundled_variants

# The float reference here against its outputs on the workstation: kernels differ between CPUs by about 1e-6;
# a larger gap means the models are not the ones the workstation bundled.
FLOAT_TOLERANCE = 1e-3
TRUSTED = "trusted"  # in the device's edgedigits folder: the public keys it accepts bundles from
VERDICT = "verdict.json"  # in an installed release: the verify that let it in


@dataclass
class Variant:
    """One of the bundle's quantized models, measured on this device against the float reference."""
    artifact: str
    precision: str
    accuracy: float
    drop_pp: float
    agreement: float
    p50_us: float
    p99_us: float
    speedup: float
    frame_us: float  # one call on a frame's crops (FRAME_CROPS), as the live reader makes it
    frame_speedup: float
    passed: bool  # within the budget (and the float model is the one bundled)


@dataclass
class Verdict:
    model: str
    target: str
    runtime: str  # the runtime (and delegate) the quantized model ran on
    artifact: str  # the quantized model picked: the fastest on a frame's crops of the variants that passed
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
    variants: list[Variant]
    twin: str = ""  # the float model of the variants' own format, when it is not the reference (ONNX's)
    twin_p50_us: float = 0.0
    frame_us: float = 0.0
    float_frame_us: float = 0.0  # the float model the speed-ups are against (the twin, if there is one)
    frame_speedup: float = 0.0
    current: str = ""  # with --install: the release the device now runs
    version: int = 0
    signer: str = signing.UNSIGNED  # or "signed by key <id>"

    @property
    def float_matches(self) -> bool:
        return self.float_max_error <= FLOAT_TOLERANCE

    def table(self) -> str:
        rows = [[f"{v.artifact}{' (picked)' if v.artifact == self.artifact else ''}", v.precision, f"{v.accuracy:.2%}",
                 f"{v.drop_pp:+.2f}", f"{v.agreement:.2%}", f"{v.p50_us:.0f}", f"{v.p99_us:.0f}", f"{v.speedup:.2f}x",
                 f"{v.frame_us:.0f}", f"{v.frame_speedup:.2f}x", "yes" if v.passed else "no"] for v in self.variants]
        baseline = ["1.00x", f"{self.float_frame_us:.0f}", "1.00x"]  # what the speed-ups are against
        rows.append(["float reference", "float32", f"{self.float_accuracy:.2%}", "", "", f"{self.float_p50_us:.0f}",
                     f"{self.float_p99_us:.0f}", *(["", "", ""] if self.twin else baseline), ""])
        if self.twin:
            rows.append([f"{self.twin} (speed-ups against it)", "float32", "", "", "", f"{self.twin_p50_us:.0f}", "",
                         *baseline, ""])
        numbers = ["accuracy", "drop pp", "agreement", "p50 µs", "p99 µs", "speed-up",
                   f"µs a frame ({FRAME_CROPS} crops)", "speed-up a frame"]
        return "\n".join([
            f"{self.model} for {self.target}, version {self.version}, {self.signer}, {self.golden} golden vectors, "
            f"runtime {self.runtime}",
            markdown_table(["model", "precision", *numbers, "within budget"], rows, right=numbers),
            f"budget {self.budget_pp} pp; float outputs within {self.float_max_error:.1e} of the workstation's"
            + ("" if self.float_matches else f" (over {FLOAT_TOLERANCE:.0e}: not the models that were bundled)")
            + (": PASSED" if self.passed else ": FAILED") + (f"; current -> {self.current}" if self.current else "")])


def measure(directory: Path, manifest: Manifest, accelerator: str | None = AUTO, rounds: int = 5,
            repeats: int = 200) -> Verdict:
    """Accuracy, agreement and single-thread latency, side by side, of the bundle's quantized models (on its
    target's accelerator, or the one asked for: its model alone; on the CPU: every variant it carries) and the
    float reference; the variant within the budget that reads a frame's crops fastest is picked."""
    info = manifest.bundle
    runtime, accelerator = bundled_model(manifest, accelerator)
    candidates = [runtime] if accelerator else bundled_variants(manifest, None)
    models = {a.path: load_artifact(directory, manifest, a, 1, accelerator) for a in candidates}
    artifacts = {a.path: a for a in manifest.artifacts}
    reference = load_artifact(directory, manifest, artifacts[info["reference_artifact"]], 1)
    golden, float_outputs = golden_split(directory, manifest)
    float_scores = predict_all(reference, golden.images)
    float_error = float(np.abs(float_scores - float_outputs).max())
    float_accuracy = float(np.mean(float_scores.argmax(axis=1) == golden.labels))
    twin = info.get("float_twin", "")
    timed = {**models, "": reference, **({twin: load_artifact(directory, manifest, artifacts[twin], 1)} if twin else {})}
    times = timings(timed, golden.images, rounds, repeats)
    base = times[twin or ""]  # what speed-ups are against
    variants = []
    for artifact in candidates:
        predicted = predict_all(models[artifact.path], golden.images).argmax(axis=1)
        compared = against_float(predicted, float_scores.argmax(axis=1), golden.labels)
        own = times[artifact.path]
        variants.append(Variant(artifact.path, artifact.precision, compared.accuracy, compared.drop_pp,
                                compared.agreement, own.p50_us, own.p99_us, base.p50_us / own.p50_us, own.frame_us,
                                base.frame_us / own.frame_us,
                                compared.drop_pp <= info["budget_pp"] and float_error <= FLOAT_TOLERANCE))
    picked = min((v for v in variants if v.passed), key=lambda v: v.frame_us, default=variants[0])
    return Verdict(manifest.model, info["target"], models[picked.artifact].runtime, picked.artifact, len(golden),
                   picked.accuracy, float_accuracy, picked.drop_pp, picked.agreement, float_error, picked.p50_us,
                   picked.p99_us, times[""].p50_us, times[""].p99_us, picked.speedup, info["budget_pp"], picked.passed,
                   variants, twin, base.p50_us if twin else 0.0, picked.frame_us, base.frame_us, picked.frame_speedup)


def speed_summary(verdict: dict) -> str:
    """A verdict's speed-ups against float, one image a call and a frame's crops a call (a release that an older
    edgedigits verified has only the first)."""
    frame = verdict.get("frame_speedup")
    on_frames = f", {frame:.2f}x on a frame's {FRAME_CROPS} crops" if frame else ""
    return f"{verdict.get('speedup', 0):.2f}x float{on_frames}"


def trusted_folder(install_root: Path | None) -> Path:
    """Where a device keeps the keys it trusts: in its edgedigits folder (by default ~/edgedigits)."""
    return release.release_root(install_root or "~/edgedigits") / TRUSTED


def verify(bundle: Path, accelerator: str | None = AUTO, install_root: Path | None = None,
           trust: signing.Trust | None = None, allow_downgrade: bool = False) -> Verdict:
    """Open (signature and checksums first) and check; if it passed and `install_root` is given, install the
    files as a release there and make it current, unless the device installed a newer version of the model."""
    trust = trust or signing.Trust(trusted_folder(install_root))
    root = release.release_root(install_root) if install_root is not None else None
    with tempfile.TemporaryDirectory() as folder:
        opened = open_bundle(bundle, Path(folder), trust)
        manifest, version = opened.manifest, opened.manifest.bundle.get("version", 0)
        if root is not None:
            release.check_version(root, manifest.model, version, allow_downgrade)
        verdict = measure(Path(folder), manifest, accelerator)
        verdict.version, verdict.signer = version, opened.signer
        if verdict.passed and root is not None:
            manifest.bundle["runtime_artifact"] = verdict.artifact  # measured here: what the release runs
            manifest.save(Path(folder))
            name = release.release_name(manifest.model, manifest.bundle["target"], sha256_file(bundle))
            verdict.current = f"{release.RELEASES}/{name}"
            (Path(folder) / VERDICT).write_text(json.dumps(asdict(verdict)) + "\n")
            release.install(Path(folder), root, name)
            release.switch(root, name)
            release.record_version(root, manifest.model, version)
    return verdict
