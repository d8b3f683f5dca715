"""Releases on a device: `<root>/releases/<name>` folders and the `current` and `previous` links between them.

The deploy and rollback playbooks call these through `edgedigits verify --install` and `edgedigits rollback`,
so that no value of a deploy ever reaches a shell.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from edgedigits import EdgeDigitsError
from edgedigits.manifest import write_atomic

RELEASES = "releases"
# The highest version installed per model. Kept apart from the releases, which an operator may delete: a device
# that forgot what it trusted would take an old, validly signed bundle back (go-tuf's CVE-2022-29173).
VERSIONS = "versions.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def release_name(model: str, target: str, sha256: str) -> str:
    """A bundle's release folder: named by its sha256, with the model and target for people to read."""
    label = _UNSAFE.sub("_", f"{model}-{target}")[:40].strip("_") or "bundle"
    return f"{label}-{sha256[:12]}"


def release_root(root: str | Path) -> Path:
    """The device's edgedigits folder (`~` expanded: playbooks pass it as data, with no shell to expand it)."""
    return Path(os.path.expanduser(str(root))).absolute()


def install(files: Path, root: Path, name: str) -> Path:
    """Copy verified files into `releases/<name>`, which appears whole or not at all."""
    release = root / RELEASES / name
    release.parent.mkdir(parents=True, exist_ok=True)
    if release.exists():  # the same bundle again (it is named by its sha256): keep the one in place
        return release
    staging = Path(tempfile.mkdtemp(dir=release.parent, prefix=f".{name}-"))
    try:
        for path in files.iterdir():
            shutil.copy2(path, staging / path.name)
        os.rename(staging, release)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise EdgeDigitsError(f"{release}: cannot install the bundle here ({exc.strerror})") from None
    return release


def _link(root: Path, name: str, target: str) -> None:
    """Point `root/name` at `target` atomically: a new link renamed over the old one."""
    fresh = root / f".{name}.new"
    fresh.unlink(missing_ok=True)
    os.symlink(target, fresh)
    os.replace(fresh, root / name)


def switch(root: Path, name: str) -> str:
    """Make `releases/<name>` current, keeping the release it replaces as `previous`; returns the new link."""
    target = f"{RELEASES}/{name}"
    current = root / "current"
    if current.is_symlink() and os.readlink(current) != target:
        _link(root, "previous", os.readlink(current))
    _link(root, "current", target)
    return target


def rollback(root: Path) -> str:
    """Swap `current` and `previous`; returns what is current now."""
    current, previous = root / "current", root / "previous"
    if not previous.is_symlink():
        raise EdgeDigitsError(f"{root}: no previous version to roll back to")
    old = os.readlink(current) if current.is_symlink() else None
    back = os.readlink(previous)
    _link(root, "current", back)
    if old is not None:
        _link(root, "previous", old)
    return back


def installed_versions(root: Path) -> dict[str, int]:
    path = root / VERSIONS
    if not path.exists():
        return {}
    try:
        versions = json.loads(path.read_text())
        if isinstance(versions, dict) and all(type(v) is int for v in versions.values()):
            return versions
    except (OSError, ValueError):
        pass
    raise EdgeDigitsError(f"{path}: unreadable; it guards against downgrades, so nothing installs until it is "
                          "mended or removed")


def check_version(root: Path, model: str, version: int, allow_downgrade: bool = False) -> None:
    """Refuse a bundle older than the newest of its model this device installed."""
    newest = installed_versions(root).get(model)
    if newest is not None and version < newest and not allow_downgrade:
        raise EdgeDigitsError(f"refused: {model} version {version} is older than version {newest} installed here "
                              "(--allow-downgrade to install it anyway, or `edgedigits rollback`)")


def record_version(root: Path, model: str, version: int) -> None:
    versions = installed_versions(root)
    if version > versions.get(model, -1):
        write_atomic(root / VERSIONS, json.dumps({**versions, model: version}, indent=2) + "\n")
