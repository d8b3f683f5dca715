"""Deploys with the project's Ansible playbooks to a real OpenSSH server on 127.0.0.1, two targets on it."""
from __future__ import annotations

import getpass
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgedigits.deploy.bundle import BundleOptions, make_bundle
from edgedigits.deploy.bundle import bundle_release as release_name
from edgedigits.deploy.fleet import Target, inventory_text, run_playbook
from tests.conftest import apt_install, assert_one_line_error, cli, free_port

SSHD = Path("/usr/sbin/sshd")
EDGEDIGITS = str(Path(sys.executable).with_name("edgedigits"))


@dataclass
class Server:
    port: int
    key: Path
    known_hosts: Path
    folder: Path


def _install_sshd() -> str:
    """Debian's openssh-server, installed when missing and we may; the reason when we cannot."""
    return "" if SSHD.exists() else apt_install("openssh-server")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    reason = _install_sshd()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
    shutil.copy(folder / "user_key.pub", folder / "authorized_keys")
    port = free_port()
    (folder / "sshd_config").write_text(f"""
Port {port}
ListenAddress 127.0.0.1
HostKey {folder / 'host_key'}
PidFile {folder / 'sshd.pid'}
AuthorizedKeysFile {folder / 'authorized_keys'}
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
Subsystem sftp internal-sftp
""")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder
    process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(folder / "sshd_config")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(50):
        if process.poll() is not None:
            pytest.skip(f"sshd did not start: {process.stderr.read().strip()[-300:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    host_key = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    yield Server(port, folder / "user_key", folder / "known_hosts", folder)
    process.terminate()
    process.wait(timeout=10)


def _inventory(server: Server, path: Path, targets: dict[str, Path], known_hosts: Path | None = None,
               bundles: dict[str, Path] | None = None) -> Path:
    """An INI inventory of targets on the test sshd; `bundles` gives hosts a bundle each, as Ansible allows."""
    lines = ["[devices]"] + [f"{name} ansible_host=127.0.0.1 edgedigits_dir={folder}"
                             + (f" bundle={bundles[name]}" if bundles and name in bundles else "")
                             for name, folder in targets.items()]
    lines += ["[devices:vars]", f"ansible_port={server.port}", f"ansible_user={getpass.getuser()}",
              f"ansible_ssh_private_key_file={server.key}",
              f"ansible_ssh_common_args='-o UserKnownHostsFile={known_hosts or server.known_hosts}'",
              f"ansible_python_interpreter={sys.executable}", f"edgedigits_command={EDGEDIGITS}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def fleet(sshd, quick_export, mnist, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleet")
    bundles = {}
    for target in ("pi", "onnx"):
        bundles[target] = folder / f"quick-{target}.tar.gz"
        # One version for both: they are the same model, deployed in either order.
        make_bundle(quick_export, mnist.test, bundles[target], BundleOptions(target=target, golden=200, version=1))
    targets = {"edge-a": folder / "device-a", "edge-b": folder / "device-b"}
    return bundles, targets, _inventory(sshd, folder / "inventory.ini", targets)


def _current(device: Path) -> str:
    return os.readlink(device / "current")


def test_deploy_to_two_hosts_verifies_then_switches_and_rolls_back(fleet):
    bundles, targets, inventory = fleet
    done = cli("deploy", bundles["pi"], "--inventory", inventory)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PLAY RECAP" in done.stderr  # Ansible's own per-host recap
    first, second = release_name(bundles["pi"]), release_name(bundles["onnx"])
    for host, device in targets.items():
        line = next(line for line in done.stdout.splitlines() if line.startswith(f"{host}:"))
        assert f"current -> releases/{first}" in line and "on litert: accuracy" in line and "drop" in line
        assert _current(device) == f"releases/{first}"
        assert (device / "current" / "model_int8.tflite").is_file()
        assert not (device / "previous").exists()
    done = cli("deploy", bundles["onnx"], "--inventory", inventory)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "onnxruntime: accuracy" in done.stdout
    for device in targets.values():
        assert _current(device) == f"releases/{second}" and os.readlink(device / "previous") == f"releases/{first}"
    done = cli("deploy", "--rollback", "--inventory", inventory)
    assert done.returncode == 0, done.stdout + done.stderr
    for host, device in targets.items():
        assert f"{host}: current -> releases/{first}" in done.stdout
        assert _current(device) == f"releases/{first}" and os.readlink(device / "previous") == f"releases/{second}"


def test_a_corrupt_bundle_is_refused_and_the_running_version_stays(fleet, tmp_path):
    bundles, targets, inventory = fleet
    before = {host: (device / "current").is_symlink() and _current(device) for host, device in targets.items()}
    corrupt = tmp_path / "corrupt.tar.gz"
    with tarfile.open(bundles["onnx"], "r:gz") as source, tarfile.open(corrupt, "w:gz") as tar:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == "model_int8.onnx":
                data = data[:-100] + bytes(100)  # a truncated upload, say
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    done = cli("deploy", corrupt, "--inventory", inventory)
    assert done.returncode == 1
    for host, device in targets.items():
        line = next(line for line in done.stdout.splitlines() if line.startswith(f"{host}:"))
        assert "FAILED at 'Verify the bundle" in line and "sha256 differs" in line
        assert ((device / "current").is_symlink() and _current(device)) == before[host]
        assert not (device / "releases" / release_name(corrupt)).exists()


def test_an_unknown_host_key_is_refused(fleet, sshd, tmp_path):
    bundles, _, _ = fleet
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    device = tmp_path / "device"
    inventory = _inventory(sshd, tmp_path / "inventory.ini", {"stranger": device}, known_hosts=empty)
    # A fresh control-socket folder: Ansible would otherwise reuse the open, already trusted connection.
    done = cli("deploy", bundles["pi"], "--inventory", inventory, env={"ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert "stranger: UNREACHABLE" in done.stdout and "Host key verification failed" in done.stderr
    assert not device.exists()


def test_deploy_by_host_with_the_users_ssh_config(fleet, sshd, tmp_path):
    """No interpreter given: the device's /usr/bin/python3 runs Ansible's modules (discovery would find this
    machine's pyenv shims first)."""
    bundles, _, _ = fleet
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 127.0.0.1\n  Port {sshd.port}\n  IdentityFile {sshd.key}\n"
                      f"  UserKnownHostsFile {sshd.known_hosts}\n")
    device = tmp_path / "device"
    done = cli("deploy", bundles["pi"], "--host", f"{getpass.getuser()}@127.0.0.1:{device}",
               "--remote-command", EDGEDIGITS, env={"ANSIBLE_SSH_COMMON_ARGS": f"-F {config}"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("127.0.0.1: current -> releases/")
    assert _current(device) == f"releases/{release_name(bundles['pi'])}"


def test_hosts_become_an_inventory_and_bad_ones_one_line_errors(tmp_path):
    text = inventory_text([Target.parse("pi@cam:/srv/a"), Target.parse("pi@cam:2222:~/b"), Target.parse("door")])
    hosts = _inventory_vars(tmp_path, text)
    assert hosts == {"cam-0": {"ansible_host": "cam", "ansible_user": "pi", "edgedigits_dir": "/srv/a"},
                     "cam-1": {"ansible_host": "cam", "ansible_user": "pi", "ansible_port": 2222,
                               "edgedigits_dir": "~/b"},
                     "door": {"ansible_host": "door"}}
    bundle = tmp_path / "b.tar.gz"
    bundle.write_bytes(b"")
    assert_one_line_error(cli("deploy", bundle, "--host", "pi@:/x"), "bad host ''", "expected [user@]host")
    assert_one_line_error(cli("deploy", bundle), "give --host")
    assert_one_line_error(cli("deploy", tmp_path / "none.tar.gz", "--host", "pi@cam"), "bundle not found")
    assert_one_line_error(cli("deploy", bundle, "--inventory", tmp_path / "none.ini"), "inventory not found")


def _inventory_vars(folder: Path, text: str) -> dict:
    """Each host's variables as Ansible reads them from an inventory text (values marked unsafe unwrapped)."""
    path = folder / "inventory.yml"
    path.write_text(text)
    done = subprocess.run([str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(path), "--list"],
                          capture_output=True, text=True, check=True)
    hostvars = json.loads(done.stdout)["_meta"]["hostvars"]
    return {host: {key: value["__ansible_unsafe"] if isinstance(value, dict) else value for key, value in
                   variables.items()} for host, variables in hostvars.items()}


@pytest.mark.parametrize("host", [
    "pi@h ansible_connection=local:/tmp/d; touch /tmp/d/PWNED",
    'pi@h ansible_ssh_common_args="-oStrictHostKeyChecking=no"',
    "pi@h\nevil ansible_connection=local ansible_become=true",
    "pi@../../results/x",
    "pi@h:/srv/{{lookup('pipe','touch X')}}",
    "pi@h:/srv/$(touch X)",
])
def test_hosts_that_would_reach_a_shell_or_set_variables_are_refused(tmp_path, host):
    bundle = tmp_path / "b.tar.gz"
    bundle.write_bytes(b"")
    done = cli("deploy", bundle, "--host", host, cwd=tmp_path)
    assert_one_line_error(done, "--host", "expected [user@]host")
    assert "PLAY" not in done.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.gz"]


def test_bundle_and_host_names_are_data_on_the_workstation_and_the_device(fleet, sshd, tmp_path):
    """A bundle named to reach a shell, a template and word splitting at once, deployed to a host whose inventory
    name would move its result file elsewhere (result files are named by a hash of it)."""
    bundles, _, _ = fleet
    name = "s$(touch PWNED) r{{lookup('pipe','touch X')}} with $1 and spaces.tar.gz"
    work = tmp_path / "work"
    work.mkdir()
    odd = shutil.copy(bundles["pi"], work / name)
    targets = {"edge-odd": tmp_path / "device-odd", "edge/../../../escape": tmp_path / "device-escape"}
    inventory = _inventory(sshd, tmp_path / "inventory.ini", targets)
    done = cli("deploy", odd, "--inventory", inventory, cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "edge/../../../escape: current -> releases/" in done.stdout
    for device in targets.values():
        assert (device / "current").resolve().is_dir() and _current(device) == f"releases/{release_name(odd)}"
        assert not list(device.rglob("PWNED")) and not list(device.rglob("X"))
    assert sorted(p.name for p in work.iterdir()) == [name]  # nothing ran on the workstation either


def test_a_host_whose_python_is_broken_says_so_in_one_line(fleet, sshd, tmp_path):
    bundles, _, _ = fleet
    inventory = _inventory(sshd, tmp_path / "inventory.ini", {"edge-c": tmp_path / "device"})
    inventory.write_text(inventory.read_text().replace(f"ansible_python_interpreter={sys.executable}",
                                                       "ansible_python_interpreter=/opt/none/python3"))
    done = cli("deploy", bundles["pi"], "--inventory", inventory)
    assert done.returncode == 1
    line = next(line for line in done.stdout.splitlines() if line.startswith("edge-c:"))
    assert "FAILED at 'Check the device with edgedigits doctor'" in line and "/opt/none/python3" in line, line
    assert not (tmp_path / "device").exists()


def test_signed_bundles_only_once_a_key_is_trusted_and_fleet_status(fleet, sshd, quick_export, mnist, tmp_path):
    """The operator trusts a key on four hosts and deploys a signed bundle; a tampered, an unsigned, a
    foreign-signed and an older bundle are each refused with current left alone; fleet status shows the versions."""
    from edgedigits.deploy.signing import new_keys
    from tests.test_signing import _tampered
    keys, stranger = new_keys(tmp_path / "keys"), new_keys(tmp_path / "keys", "stranger")
    cases = {"tampered": "bad signature", "unsigned": "unsigned", "foreign": f"key {stranger.key_id}, which is not among",
             "older": "version 10 is older than version 20"}
    targets = {f"edge-{case}": tmp_path / f"device-{case}" for case in cases}
    inventory = _inventory(sshd, tmp_path / "inventory.ini", targets)
    made = {}
    for name, version, key in (("signed", 20, keys.private), ("older", 10, keys.private), ("unsigned", 30, None),
                               ("foreign", 40, stranger.private), ("newer", 50, keys.private)):
        made[name] = tmp_path / f"{name}.tar.gz"
        make_bundle(quick_export, mnist.test, made[name], BundleOptions(golden=100, version=version, sign=key))
    done = cli("deploy", made["signed"], "--trust", keys.public, "--inventory", inventory)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(f"version 20, signed by key {keys.key_id}") == len(targets)
    for device in targets.values():
        assert [p.name for p in (device / "trusted").iterdir()] == [f"{keys.key_id}.pub"]
    installed = {host: _current(device) for host, device in targets.items()}
    made["tampered"] = _tampered(made["signed"], tmp_path / "tampered.tar.gz")
    # One run, a bad bundle per host (an inventory may give each host its own): each is refused, current stays.
    each = _inventory(sshd, tmp_path / "each.ini", targets, bundles={f"edge-{case}": made[case] for case in cases})
    results = {r.host: r for r in run_playbook("deploy.yml", each, {})}
    for case, message in cases.items():
        host = f"edge-{case}"
        assert results[host].status == "failed" and "FAILED at 'Verify the bundle" in results[host].line
        assert message in results[host].line, results[host].line
        assert _current(targets[host]) == installed[host]
    # The key is revoked fleet-wide (its .pub stays): a bundle it signs is refused from then on.
    done = cli("deploy", made["newer"], "--revoke", keys.key_id, "--inventory", inventory)
    assert done.returncode == 1 and done.stdout.count(f"key {keys.key_id}, which is revoked") == len(targets), done.stdout
    assert_one_line_error(cli("deploy", "--revoke", "$(touch X)", "--inventory", inventory), "16 hex digits")
    done = cli("fleet", "status", "--inventory", inventory, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    hosts = {r["host"]: r for r in json.loads(done.stdout)}
    for host, device in targets.items():
        status = hosts[host]["device"]
        assert status["current"] == installed[host].split("/")[-1] and status["version"] == 20
        assert status["signer"] == f"signed by key {keys.key_id}" and status["verify"].startswith("passed")
        assert status["serve"] == "not listening on port 8080" and status["disk_free_mb"] > 0


def test_fleet_status_table_has_a_row_per_host_and_says_why_one_is_missing():
    from edgedigits.deploy.fleet import HostResult, status_table
    device = {"current": "conv_net-pi-5c3e0d9a41b2", "version": 20, "signer": "signed by key c222180342db38ad",
              "verify": "passed: model_int8.tflite 98.00% (drop +0.00 pp), 1.50x float", "doctor": "ok",
              "disk_free_mb": 21004.4, "serve": "up", "ok": True}
    lines = status_table([HostResult("edge-a", "ok", "", device),
                          HostResult("edge-b", "unreachable", "UNREACHABLE (see Ansible's output above)")]).splitlines()
    assert lines[0] == "| host | release | version | signer | verify | doctor | MB free | serve |"
    assert lines[2] == ("| edge-a | conv_net-pi-5c3e0d9a41b2 | 20 | signed by key c222180342db38ad | passed: "
                        "model_int8.tflite 98.00% (drop +0.00 pp), 1.50x float | ok | 21,004 | up |")
    assert lines[3].startswith("| edge-b | UNREACHABLE") and lines[3].count("|") == 9


def test_a_device_on_an_older_edgedigits_still_gets_its_result_line():
    """Workstations are upgraded first: a device's verdict without a version or signer is still a result line."""
    from edgedigits.deploy.fleet import _result_line
    old = {"artifact": "model_int8.tflite", "runtime": "litert", "accuracy": 0.98, "float_accuracy": 0.98,
           "drop_pp": 0.0, "agreement": 1.0, "p50_us": 28.0, "float_p50_us": 67.0, "speedup": 2.39}
    line = _result_line({"status": "ok", "current": "releases/x", "verify": old})
    assert line.startswith("current -> releases/x; version ?, signer unknown; model_int8.tflite on litert")
