"""Signed bundles: keys, signatures checked before any file is used, revoked keys, and no downgrades."""
import json
import os
import tarfile

import pytest

from edgedigits import EdgeDigitsError
from edgedigits.deploy import signing
from edgedigits.deploy.bundle import BundleOptions, make_bundle
from edgedigits.deploy.release import rollback
from edgedigits.deploy.verify import verify
from edgedigits.manifest import MANIFEST, sha256_file
from tests.conftest import assert_one_line_error, cli
from tests.test_bundle import _add, _members, _rewrite


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return signing.new_keys(folder), signing.new_keys(folder, "other")


@pytest.fixture(scope="module")
def signed(quick_export, mnist, keys, tmp_path_factory):
    """Bundles of one export: signed versions 5 and 3, and unsigned version 7."""
    folder = tmp_path_factory.mktemp("signed")
    made = {}
    for name, version, key in (("v5", 5, keys[0].private), ("v3", 3, keys[0].private), ("unsigned", 7, None)):
        made[name] = folder / f"{name}.tar.gz"
        make_bundle(quick_export, mnist.test, made[name], BundleOptions(golden=100, version=version, sign=key))
    return made


def _device(tmp_path, *keys) -> tuple:
    """A device folder trusting `keys`."""
    root = tmp_path / "device"
    (root / "trusted").mkdir(parents=True)
    for key in keys:
        (root / "trusted" / key.public.name).write_bytes(key.public.read_bytes())
    return root


def test_keys_are_made_once_private_key_unreadable_to_others(tmp_path):
    done = cli("keys", "new", tmp_path / "k")
    assert done.returncode == 0, done.stderr
    private, public = tmp_path / "k" / "edgedigits.key", tmp_path / "k" / "edgedigits.pub"
    assert os.stat(private).st_mode & 0o777 == 0o600 and b"PRIVATE KEY" in private.read_bytes()
    assert b"PUBLIC KEY" in public.read_bytes()
    key_id = signing.key_id(signing.load_public(public))
    assert key_id in done.stdout
    before = private.read_bytes()
    assert_one_line_error(cli("keys", "new", tmp_path / "k"), "exists; not replaced")
    assert private.read_bytes() == before  # a user's key is never replaced
    assert not [p for p in (tmp_path / "k").iterdir() if p.name.startswith(".")]  # nothing half-written left


def test_a_signed_bundle_installs_and_says_who_signed_it(signed, keys, tmp_path):
    assert signing.SIGNATURE in _members(signed["v5"])
    root = _device(tmp_path, keys[0])
    verdict = verify(signed["v5"], install_root=root)
    assert verdict.passed and verdict.signer == f"signed by key {keys[0].key_id}" and verdict.version == 5
    assert f"version 5, signed by key {keys[0].key_id}" in verdict.table()
    installed = json.loads((root / "current" / "verdict.json").read_text())
    assert installed["signer"] == verdict.signer and installed["version"] == 5
    assert json.loads((root / "versions.json").read_text()) == {verdict.model: 5}


def _tampered(bundle, path):
    """Both models swapped and the manifest re-hashed to match: what a writer of bundles without the key makes."""
    members = _members(bundle)
    int8, float32 = members["model_int8.tflite"], members["model_float32.tflite"]
    manifest = json.loads(members[MANIFEST])
    for artifact in manifest["artifacts"]:
        data = {"model_int8.tflite": float32, "model_float32.tflite": int8}.get(artifact["path"])
        if data is not None:
            path.with_suffix(".tmp").write_bytes(data)
            artifact["sha256"], artifact["bytes"] = sha256_file(path.with_suffix(".tmp")), len(data)
    swapped = {**members, "model_int8.tflite": float32, "model_float32.tflite": int8,
               MANIFEST: json.dumps(manifest, indent=2).encode()}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in swapped.items():
            _add(tar, name, data)
    return path


@pytest.mark.parametrize("case, message", [
    ("tampered", "bad signature"),
    ("unsigned", "the bundle is unsigned and this device requires a signature"),
    ("unknown key", "which is not among the keys trusted"),
    ("revoked key", "which is revoked"),
    ("older version", "version 3 is older than version 5 installed here"),
])
def test_untrusted_bundles_are_refused_and_current_stays(signed, keys, tmp_path, case, message):
    root = _device(tmp_path, keys[1] if case == "unknown key" else keys[0])
    current = None
    if case == "older version":
        verify(signed["v5"], install_root=root)
        current = os.readlink(root / "current")
    if case == "revoked key":
        (root / "trusted" / signing.REVOKED).write_text(f"{keys[0].key_id}  # laptop stolen\n")
    bundle = {"tampered": lambda: _tampered(signed["v5"], tmp_path / "tampered.tar.gz"),
              "unsigned": lambda: signed["unsigned"]}.get(case, lambda: signed["v3"])()
    done = cli("verify", bundle, "--install", root)
    assert_one_line_error(done, message)
    if current:
        assert os.readlink(root / "current") == current and len(list((root / "releases").iterdir())) == 1
    else:
        assert not (root / "current").exists() and not (root / "releases").exists()


def test_downgrade_when_asked_and_rollback_stay_possible(signed, keys, tmp_path):
    root = _device(tmp_path, keys[0])
    first = verify(signed["v5"], install_root=root).current
    older = verify(signed["v3"], install_root=root, allow_downgrade=True)
    assert older.passed and older.current != first and older.version == 3
    assert json.loads((root / "versions.json").read_text())[older.model] == 5  # the highest is kept
    assert rollback(root) == first and rollback(root) == older.current  # the operator's own releases


def test_with_no_trusted_key_unsigned_passes_unless_signatures_are_required(signed, tmp_path):
    done = cli("verify", signed["unsigned"], "--trusted", tmp_path / "none")
    assert done.returncode == 0 and "version 7, unsigned," in done.stdout, done.stderr
    done = cli("verify", signed["v5"], "--trusted", tmp_path / "none")
    assert done.returncode == 0 and "unsigned (signed by key" in done.stdout, done.stderr
    assert_one_line_error(cli("verify", signed["unsigned"], "--trusted", tmp_path / "none", "--require-signed"),
                          "unsigned")


def test_a_signature_that_is_not_one_and_a_private_key_offered_as_trusted(signed, keys, tmp_path):
    garbled = tmp_path / "garbled.tar.gz"
    _rewrite(signed["v5"], garbled, lambda tar, n, d: _add(tar, n, b"{not json" if n == signing.SIGNATURE else d))
    with pytest.raises(EdgeDigitsError, match="signature.json is not a signature"):
        verify(garbled, trust=signing.Trust(_device(tmp_path, keys[0]) / "trusted"))
    forged = tmp_path / "forged.tar.gz"  # a key id that would print lines of its own
    fields = json.dumps({"algorithm": "ed25519", "key_id": "abc\nedgedigits: ok", "signature": "AAAA"}).encode()
    _rewrite(signed["v5"], forged, lambda tar, n, d: _add(tar, n, fields if n == signing.SIGNATURE else d))
    assert_one_line_error(cli("verify", forged, "--trusted", tmp_path / "device" / "trusted"), "not a signature")
    assert_one_line_error(cli("deploy", "--trust", keys[0].private, "--host", "localhost"), "a private key")
    assert_one_line_error(cli("bundle", "nowhere", "--version", "-1"), "--version -1")
