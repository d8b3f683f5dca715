"""What checking a bundle's signature adds to opening it: the median of many opens of one bundle, signed
against a device trusting its key, and unsigned against a device trusting none.

    python benchmarks/signing.py EXPORT [--rounds 50]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from edgedigits.data import load_mnist
from edgedigits.deploy import signing
from edgedigits.deploy.bundle import BundleOptions, make_bundle, open_bundle
from edgedigits.manifest import MANIFEST


def _open_ms(bundle: Path, trust: signing.Trust) -> float:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        open_bundle(bundle, Path(folder), trust)
        return (time.perf_counter() - start) * 1000


def _check_ms(manifest: bytes, signature: bytes, trust: signing.Trust) -> float:
    start = time.perf_counter()
    signing.signer(manifest, signature, trust)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name")),
        platform.processor())
    test = load_mnist().test
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        keys = signing.new_keys(folder / "keys")
        (folder / "trusted").mkdir()
        (folder / "trusted" / keys.public.name).write_bytes(keys.public.read_bytes())
        for name, key in (("signed", keys.private), ("unsigned", None)):
            make_bundle(args.export, test, folder / f"{name}.tar.gz", BundleOptions(sign=key))
        trusted = signing.Trust(folder / "trusted")
        # Interleaved, so that a busy moment of the machine falls on both alike.
        opened = [(_open_ms(folder / "signed.tar.gz", trusted), _open_ms(folder / "unsigned.tar.gz", signing.Trust()))
                  for _ in range(args.rounds)]
        members = {m: _member(folder / "signed.tar.gz", m) for m in (MANIFEST, signing.SIGNATURE)}
        check = statistics.median(_check_ms(members[MANIFEST], members[signing.SIGNATURE], trusted)
                                  for _ in range(args.rounds))
    signed, unsigned = (statistics.median(times) for times in zip(*opened))
    print(f"CPU: {cpu}\nopen a bundle, median of {args.rounds}: signed and checked {signed:.2f} ms, unsigned "
          f"{unsigned:.2f} ms; the signature check alone (trusted keys read, Ed25519 verified): {check:.2f} ms")


def _member(bundle: Path, name: str) -> bytes:
    with tarfile.open(bundle, "r:gz") as tar:
        return tar.extractfile(name).read()


if __name__ == "__main__":
    main()
