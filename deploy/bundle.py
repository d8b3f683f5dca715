"""Bundles: one checked .tar.gz per device target with the runtime model, the float reference and golden vectors."""
from __future__ import annotations

import io
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedigits import EdgeDigitsError
from edgedigits.data import Split
from edgedigits.device.runtime import load_artifact, predict_all
from edgedigits.manifest import MANIFEST, Artifact, Manifest, atomic_path, sha256_file

GOLDEN = "golden.npz"
REFERENCE = ("tflite", "float32")
# The runtime model each target runs, by (format, precision, variant), preferred first.
TARGETS = {
    "pi": (("tflite", "int8", None), ("tflite", "uint8", None)),
    "coral": (("tflite", "uint8", "edgetpu-compiled"), ("tflite", "uint8", "edgetpu-static")),
    "onnx": (("onnx", "int8", None),),
}
MAX_MEMBER_BYTES = 64 << 20  # no model of this toolkit comes near; a bigger member is a zip bomb or a mistake
GOLDEN_COUNT = 500


@dataclass(frozen=True)
class BundleOptions:
    target: str = "pi"
    golden: int = GOLDEN_COUNT  # test images carried along, with labels and the float model's outputs
    budget_pp: float = 0.5  # accuracy the quantized model may lose against float on the golden vectors


def _runtime_artifact(manifest: Manifest, target: str, export: Path) -> Artifact:
    if target not in TARGETS:
        raise EdgeDigitsError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    for wanted in TARGETS[target]:
        found = next((a for a in manifest.artifacts if (a.format, a.precision) == wanted[:2]
                      and wanted[2] in (None, a.variant)), None)
        if found is not None:
            return found
    if target == "coral":
        raise EdgeDigitsError(f"{export}: no Edge TPU model; run `edgedigits convert {export} --target edgetpu`")
    raise EdgeDigitsError(f"{export}: no {TARGETS[target][0][0]} int8 model in the manifest; run `edgedigits "
                          "convert` first")


def _golden(export: Path, manifest: Manifest, reference: Artifact, test: Split, count: int) -> bytes:
    """`count` test images drawn at random (seeded), with their labels and the float model's outputs."""
    chosen = np.sort(np.random.default_rng(0).choice(len(test), min(count, len(test)), replace=False))
    images, labels = test.images[chosen], test.labels[chosen]
    outputs = predict_all(load_artifact(export, manifest, reference), images)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels, float_outputs=outputs.astype(np.float32))
    return buffer.getvalue()


def make_bundle(export: Path, test: Split, out: Path, options: BundleOptions = BundleOptions()) -> Manifest:
    """Write the bundle for a target; every file it holds is listed in its manifest with its sha256."""
    export = Path(export)
    manifest = Manifest.load(export)
    runtime = _runtime_artifact(manifest, options.target, export)
    reference = manifest.find(*REFERENCE)
    if reference is None:
        raise EdgeDigitsError(f"{export}: no float32 TFLite model to compare on the device")
    chosen = [runtime] if runtime is reference else [runtime, reference]
    for artifact in chosen:
        manifest.verify(export, artifact)
    golden = _golden(export, manifest, reference, test, options.golden)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / GOLDEN).write_bytes(golden)
        bundle = Manifest(manifest.model, manifest.classes, manifest.input, chosen, bundle={
            "target": options.target, "runtime_artifact": runtime.path, "reference_artifact": reference.path,
            "budget_pp": options.budget_pp, "golden": {"path": GOLDEN, "sha256": sha256_file(Path(folder) / GOLDEN),
                                                       "bytes": len(golden), "count": min(options.golden, len(test))}})
        bundle.save(Path(folder))
        with atomic_path(Path(out)) as tmp, tarfile.open(tmp, "w:gz") as tar:
            tar.add(Path(folder) / MANIFEST, arcname=MANIFEST)
            tar.add(Path(folder) / GOLDEN, arcname=GOLDEN)
            for artifact in chosen:
                tar.add(export / artifact.path, arcname=artifact.path)
    return bundle


def _checked_members(tar: tarfile.TarFile, path: Path) -> dict[str, tarfile.TarInfo]:
    """Every member by name, after refusing what could write outside the folder or fill the disk."""
    members = {}
    for member in tar.getmembers():
        name = member.name
        if name.startswith("/") or Path(name).is_absolute():
            raise EdgeDigitsError(f"{path}: refused member {name!r}: absolute path")
        if ".." in Path(name).parts or "/" in name.strip("/") or name in ("", "."):
            raise EdgeDigitsError(f"{path}: refused member {name!r}: bundles hold plain file names only")
        if member.issym() or member.islnk():
            raise EdgeDigitsError(f"{path}: refused member {name!r}: links are not allowed")
        if not member.isfile():
            raise EdgeDigitsError(f"{path}: refused member {name!r}: not a regular file")
        if member.size > MAX_MEMBER_BYTES:
            raise EdgeDigitsError(f"{path}: refused member {name!r}: {member.size} bytes, limit {MAX_MEMBER_BYTES}")
        members[name] = member
    return members


def open_bundle(path: Path, into: Path) -> Manifest:
    """Unpack a bundle into an empty folder, checking every file's sha256 before anything is loaded."""
    path = Path(path)
    if not path.is_file():
        raise EdgeDigitsError(f"{path}: bundle not found")
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = _checked_members(tar, path)
            if MANIFEST not in members:
                raise EdgeDigitsError(f"{path}: not a bundle (no {MANIFEST})")
            for name, member in members.items():
                (Path(into) / name).write_bytes(tar.extractfile(member).read())
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:  # gzip raises BadGzipFile (an OSError)
        raise EdgeDigitsError(f"{path}: not a readable bundle ({type(exc).__name__}: {exc})") from None
    manifest = Manifest.load(Path(into))
    if not manifest.bundle:
        raise EdgeDigitsError(f"{path}: {MANIFEST} describes an export, not a bundle")
    listed = {a.path: a.sha256 for a in manifest.artifacts} | {GOLDEN: manifest.bundle["golden"]["sha256"]}
    for name, digest in listed.items():
        if name not in members:
            raise EdgeDigitsError(f"{path}: {name} is listed in the manifest but missing")
        if sha256_file(Path(into) / name) != digest:
            raise EdgeDigitsError(f"{path}: {name}: sha256 differs from the manifest (corrupt or replaced)")
    extra = set(members) - set(listed) - {MANIFEST}
    if extra:
        raise EdgeDigitsError(f"{path}: {', '.join(sorted(extra))} not listed in the manifest")
    return manifest


def golden_split(directory: Path, manifest: Manifest) -> tuple[Split, np.ndarray]:
    """The golden vectors as a test split, and the float model's outputs for them."""
    with np.load(Path(directory) / manifest.bundle["golden"]["path"]) as golden:
        return Split(golden["images"], golden["labels"]), golden["float_outputs"]

