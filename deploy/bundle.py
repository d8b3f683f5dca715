"""Bundles: one checked .tar.gz per device target with the runtime model, the float reference and golden vectors."""
from __future__ import annotations

import contextlib
import io
import shutil
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from edgedigits import EdgeDigitsError
from edgedigits.data import Split
from edgedigits.deploy import signing
from edgedigits.deploy.release import release_name
from edgedigits.device.runtime import load_artifact, predict_all
from edgedigits.manifest import MANIFEST, Artifact, Manifest, atomic_path, sha256_file
from edgedigits.targets import REFERENCE, device, first, matching

GOLDEN = "golden.npz"
MAX_MEMBER_BYTES = 64 << 20  # no model of this toolkit comes near; a bigger member is a zip bomb or a mistake
MAX_MEMBERS = 16  # a bundle holds a manifest, golden vectors and a few models
MAX_MANIFEST_BYTES = 1 << 20
MAX_GOLDEN_BYTES = 64 << 20  # 10,000 images with 11 float outputs each take 8 MB
MAX_BUDGET_PP = 5.0  # a wider budget would let verify pass a model that reads far worse than its float twin
GOLDEN_COUNT = 500
MAX_VERSION = 1 << 63  # versions fit a signed 64-bit integer, as JSON readers in other languages hold them


@dataclass(frozen=True)
class BundleOptions:
    target: str = "pi"
    golden: int = GOLDEN_COUNT  # test images carried along, with labels and the float model's outputs
    budget_pp: float = 0.5  # accuracy the quantized model may lose against float on the golden vectors
    version: int | None = None  # devices refuse a version older than one they installed; None: the time now
    sign: Path | None = None  # the private key that signs the manifest


def _version(given: int | None) -> int:
    if given is None:
        return int(time.time())
    if not isinstance(given, int) or not 0 <= given < MAX_VERSION:
        raise EdgeDigitsError(f"--version {given!r}: a whole number from 0 to {MAX_VERSION - 1}")
    return given


def _runtime_artifacts(manifest: Manifest, target: str, export: Path, reference: Artifact,
                       budget_pp: float) -> list[Artifact]:
    """The target's models in the export, preferred first; besides the preferred one, those that kept within the
    budget on the workstation's test split. The device measures them all and runs the fastest."""
    found = matching(manifest, device(target).models)
    if found:
        return found[:1] + [a for a in found[1:] if None not in (a.test_accuracy, reference.test_accuracy)
                            and (reference.test_accuracy - a.test_accuracy) * 100 <= budget_pp]
    if target == "coral":
        raise EdgeDigitsError(f"{export}: no Edge TPU model; run `edgedigits convert {export} --target edgetpu`")
    raise EdgeDigitsError(f"{export}: no {device(target).describe} model in the manifest; run `edgedigits "
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
    if options.budget_pp > MAX_BUDGET_PP:
        raise EdgeDigitsError(f"--budget-pp {options.budget_pp}: at most {MAX_BUDGET_PP} points")
    version = _version(options.version)
    manifest = Manifest.load(export)
    reference = manifest.find(*REFERENCE)
    if reference is None:
        raise EdgeDigitsError(f"{export}: no float32 TFLite model to compare on the device")
    variants = _runtime_artifacts(manifest, options.target, export, reference, options.budget_pp)
    # Speed-ups are measured against float in the runtime's own format: ONNX Runtime's per-call cost is its own.
    twin_model = device(options.target).twin
    twin = first(manifest, (twin_model,)) if twin_model else None
    chosen = variants + [a for a in (reference, twin) if a is not None and a not in variants]
    for artifact in chosen:
        manifest.verify(export, artifact)
    golden = _golden(export, manifest, reference, test, options.golden)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / GOLDEN).write_bytes(golden)
        bundle = Manifest(manifest.model, manifest.classes, manifest.input, chosen, bundle={
            "target": options.target, "runtime_artifact": variants[0].path, "variants": [a.path for a in variants],
            "reference_artifact": reference.path, **({"float_twin": twin.path} if twin else {}),
            "budget_pp": options.budget_pp, "version": version,
            "golden": {"path": GOLDEN, "sha256": sha256_file(Path(folder) / GOLDEN), "bytes": len(golden),
                       "count": min(options.golden, len(test))}})
        bundle.save(Path(folder))
        made = [MANIFEST, GOLDEN]
        if options.sign is not None:
            (Path(folder) / signing.SIGNATURE).write_bytes(
                signing.sign((Path(folder) / MANIFEST).read_bytes(), options.sign))
            made.insert(1, signing.SIGNATURE)
        with atomic_path(Path(out)) as tmp, tarfile.open(tmp, "w:gz") as tar:
            for name in made:
                tar.add(Path(folder) / name, arcname=name)
            for artifact in chosen:
                tar.add(export / artifact.path, arcname=artifact.path)
    return bundle


def _checked_members(tar: tarfile.TarFile, path: Path) -> dict[str, tarfile.TarInfo]:
    """Every member by name, after refusing what could write outside the folder or fill the disk; reads
    headers only, and no more of them than a bundle can hold."""
    members = {}
    for member in iter(tar.next, None):
        name = member.name
        if len(members) >= MAX_MEMBERS:
            raise EdgeDigitsError(f"{path}: refused: more than {MAX_MEMBERS} members")
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


@dataclass(frozen=True)
class Listed:
    """A file as the manifest lists it."""
    sha256: str
    bytes: int


def _listed(path: Path, manifest: Manifest) -> dict[str, Listed]:
    """The files a bundle's manifest lists, by name; refuses a manifest that points outside the bundle or widens
    the accuracy budget past MAX_BUDGET_PP."""
    info = manifest.bundle
    golden = info.get("golden") if isinstance(info.get("golden"), dict) else {}
    if golden.get("path") != GOLDEN:
        raise EdgeDigitsError(f"{path}: refused: golden vectors must be {GOLDEN} inside the bundle")
    version = info.get("version", 0)  # bundles made before versions count as 0
    if type(version) is not int or not 0 <= version < MAX_VERSION:
        raise EdgeDigitsError(f"{path}: refused: version {version!r} is not a whole number")
    budget = info.get("budget_pp")
    if not isinstance(budget, (int, float)) or budget > MAX_BUDGET_PP:
        raise EdgeDigitsError(f"{path}: refused: budget_pp {budget!r}, at most {MAX_BUDGET_PP}")
    names = {a.path for a in manifest.artifacts}
    for key in ("runtime_artifact", "reference_artifact"):
        if info.get(key) not in names:
            raise EdgeDigitsError(f"{path}: {key} {info.get(key)!r} is not one of the bundle's artifacts")
    if info.get("float_twin") is not None and info["float_twin"] not in names:
        raise EdgeDigitsError(f"{path}: float_twin {info.get('float_twin')!r} is not one of the bundle's artifacts")
    if not isinstance(info.get("variants", []), list) or not set(info.get("variants", [])) <= names:
        raise EdgeDigitsError(f"{path}: variants {info.get('variants')!r} are not all the bundle's artifacts")
    listed = {a.path: Listed(a.sha256, a.bytes) for a in manifest.artifacts}
    listed[GOLDEN] = Listed(golden.get("sha256"), golden.get("bytes"))
    return listed


@contextlib.contextmanager
def _tar(path: Path) -> Iterator[tarfile.TarFile]:
    """A bundle's tar, any failure to read it one line."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            yield tar
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:  # gzip raises BadGzipFile (an OSError)
        raise EdgeDigitsError(f"{path}: not a readable bundle ({type(exc).__name__}: {exc})") from None


@dataclass
class Opened:
    manifest: Manifest
    signer: str  # "signed by key <id>" (a trusted key), or why it is taken unsigned


def _manifest(tar: tarfile.TarFile, path: Path, into: Path, trust: signing.Trust,
              ) -> tuple[Opened, dict[str, tarfile.TarInfo]]:
    """A bundle's manifest, its signature checked, written into `into` and loaded, and its members: nothing else
    is extracted."""
    members = _checked_members(tar, path)
    if MANIFEST not in members:
        raise EdgeDigitsError(f"{path}: not a bundle (no {MANIFEST})")
    for name, limit in ((MANIFEST, MAX_MANIFEST_BYTES), (signing.SIGNATURE, signing.MAX_SIGNATURE_BYTES)):
        if name in members and members[name].size > limit:
            raise EdgeDigitsError(f"{path}: refused: {name} of {members[name].size} bytes")
    text = tar.extractfile(members[MANIFEST]).read()
    signature = tar.extractfile(members[signing.SIGNATURE]).read() if signing.SIGNATURE in members else None
    try:
        signer = signing.signer(text, signature, trust)
    except EdgeDigitsError as exc:
        raise EdgeDigitsError(f"{path}: {exc}") from None
    (Path(into) / MANIFEST).write_bytes(text)
    manifest = Manifest.load(Path(into))
    if not manifest.bundle:
        raise EdgeDigitsError(f"{path}: {MANIFEST} describes an export, not a bundle")
    return Opened(manifest, signer), members


def open_bundle(path: Path, into: Path, trust: signing.Trust = signing.Trust()) -> Opened:
    """Unpack a bundle into an empty folder: its signature is checked against the trusted keys, and names and
    sizes against the manifest, before anything else is extracted; every file's sha256 before anything is loaded."""
    path = Path(path)
    if not path.is_file():
        raise EdgeDigitsError(f"{path}: bundle not found")
    with _tar(path) as tar:
        opened, members = _manifest(tar, path, into, trust)
        manifest = opened.manifest
        listed = _listed(path, manifest)
        extra = set(members) - set(listed) - {MANIFEST, signing.SIGNATURE}
        if extra:
            raise EdgeDigitsError(f"{path}: {', '.join(sorted(extra))} not listed in the manifest")
        for name, file in listed.items():
            if name not in members:
                raise EdgeDigitsError(f"{path}: {name} is listed in the manifest but missing")
            if members[name].size != file.bytes:
                raise EdgeDigitsError(f"{path}: {name}: {members[name].size} bytes, the manifest says {file.bytes}")
        for name, file in listed.items():
            with tar.extractfile(members[name]) as source, open(Path(into) / name, "wb") as target:
                shutil.copyfileobj(source, target)
            if sha256_file(Path(into) / name) != file.sha256:
                raise EdgeDigitsError(f"{path}: {name}: sha256 differs from the manifest (corrupt or replaced)")
    return opened


def bundle_manifest(path: Path) -> Manifest:
    """A bundle's manifest alone, read without unpacking the rest."""
    with tempfile.TemporaryDirectory() as folder, _tar(Path(path)) as tar:
        return _manifest(tar, Path(path), Path(folder), signing.Trust())[0].manifest


def bundle_release(path: Path) -> str:
    """The release folder a bundle installs as on a device (the same name on the workstation and there)."""
    manifest = bundle_manifest(path)
    return release_name(manifest.model, str(manifest.bundle.get("target", "")), sha256_file(path))


def golden_split(directory: Path, manifest: Manifest) -> tuple[Split, np.ndarray]:
    """The golden vectors as a test split, and the float model's outputs for them; the arrays' sizes are
    checked in the archive's directory before any is decompressed."""
    path = Path(directory) / GOLDEN
    expected = {"images": (np.uint8, (None, 28, 28)), "labels": (None, (None,)),
                "float_outputs": (np.float32, (None, len(manifest.classes)))}
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = {Path(i.filename).stem: i.file_size for i in archive.infolist()}
        if set(sizes) != set(expected) or sum(sizes.values()) > MAX_GOLDEN_BYTES:
            raise EdgeDigitsError(f"{path}: refused: arrays {sorted(sizes)} of {sum(sizes.values())} bytes, "
                                  f"expected {sorted(expected)} within {MAX_GOLDEN_BYTES}")
        with np.load(path, allow_pickle=False) as golden:
            arrays = {name: golden[name] for name in expected}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise EdgeDigitsError(f"{path}: not readable golden vectors ({type(exc).__name__}: {exc})") from None
    count = len(arrays["images"])
    for name, (dtype, shape) in expected.items():
        array = arrays[name]
        if (dtype and array.dtype != dtype) or array.ndim != len(shape) or len(array) != count or any(
                want is not None and got != want for want, got in zip(shape, array.shape)):
            raise EdgeDigitsError(f"{path}: {name} is {array.dtype} {array.shape}, not what a bundle holds")
    return Split(arrays["images"], arrays["labels"]), arrays["float_outputs"]
