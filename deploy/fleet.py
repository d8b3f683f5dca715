"""`edgedigits deploy`: the project's Ansible playbooks run over hosts or an inventory, a result line per host."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgedigits import EdgeDigitsError
from edgedigits.manifest import sha256_file

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


@dataclass(frozen=True)
class Target:
    """One `user@host[:dir]` of the command line."""
    user: str
    host: str
    directory: str

    @classmethod
    def parse(cls, text: str) -> "Target":
        user, at, rest = text.rpartition("@")
        host, _, directory = rest.partition(":")
        if not host:
            raise EdgeDigitsError(f"--host {text!r}: expected user@host[:dir]")
        return cls(user if at else "", host, directory)


def inventory_text(targets: list[Target]) -> str:
    """An INI inventory of the targets; two folders on one host become two inventory hosts."""
    lines = ["[edgedigits]"]
    for number, target in enumerate(targets):
        name = target.host if sum(t.host == target.host for t in targets) == 1 else f"{target.host}-{number}"
        fields = {"ansible_host": target.host, "ansible_user": target.user, "edgedigits_dir": target.directory}
        lines.append(" ".join([name, *(f"{key}={json.dumps(value)}" for key, value in fields.items() if value)]))
    return "\n".join(lines) + "\n"


def release_name(bundle: Path) -> str:
    """Releases are named by content, so deploying the same bundle twice is one release."""
    return f"{bundle.name.split('.')[0]}-{sha256_file(bundle)[:12]}"


@dataclass
class HostResult:
    host: str
    status: str  # ok | failed | unreachable
    line: str


def _result_line(result: dict) -> str:
    verify = result.get("verify")
    if result["status"] != "ok":
        return f"FAILED at {result['step']!r}: {result['message']}"
    if verify is None:
        return f"current -> {result['current']}"
    return (f"current -> {result['current']}; {verify['runtime']}: accuracy {verify['accuracy']:.2%} vs float "
            f"{verify['float_accuracy']:.2%} (drop {verify['drop_pp']:+.2f} pp, agreement {verify['agreement']:.2%}), "
            f"p50 {verify['p50_us']:.0f} µs vs {verify['float_p50_us']:.0f} µs ({verify['speedup']:.2f}x)")


def run_playbook(playbook: str, inventory: Path, extra: dict[str, str], forks: int = 10) -> list[HostResult]:
    """Run one of the project's playbooks (its output and recap go to the terminal) and read each host's result."""
    binary = shutil.which("ansible-playbook") or str(Path(sys.executable).with_name("ansible-playbook"))
    if not Path(binary).exists():
        raise EdgeDigitsError("ansible-playbook not found: pip install 'edgedigits[deploy]'")
    if not Path(inventory).exists():
        raise EdgeDigitsError(f"{inventory}: inventory not found")
    with tempfile.TemporaryDirectory() as results:
        command = [binary, "-i", str(inventory), str(PLAYBOOKS / playbook), "--forks", str(forks),
                   "-e", json.dumps({**extra, "results_dir": results})]
        # Ansible's own output goes to stderr, keeping stdout for the result lines.
        subprocess.run(command, stdout=sys.stderr, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
        hosts = _inventory_hosts(binary, inventory)
        found = {p.stem: json.loads(p.read_text()) for p in Path(results).glob("*.json")}
    return [HostResult(host, found[host]["status"], _result_line(found[host])) if host in found else
            HostResult(host, "unreachable", "UNREACHABLE (see Ansible's output above)") for host in hosts]


def _inventory_hosts(binary: str, inventory: Path) -> list[str]:
    done = subprocess.run([str(Path(binary).with_name("ansible-inventory")), "-i", str(inventory), "--list"],
                          capture_output=True, text=True)
    try:
        return sorted(json.loads(done.stdout)["_meta"]["hostvars"])
    except (ValueError, KeyError):
        raise EdgeDigitsError(f"{inventory}: Ansible cannot read this inventory") from None


def deploy(bundle: Path | None, targets: list[Target], inventory: Path | None, rollback: bool,
           remote_command: str | None) -> list[HostResult]:
    """Deploy a bundle (or roll back) to the targets or the hosts of an inventory."""
    if bool(targets) == bool(inventory):
        raise EdgeDigitsError("deploy needs --host user@host[:dir] (repeatable) or --inventory FILE, not both")
    if not rollback and (bundle is None or not Path(bundle).is_file()):
        raise EdgeDigitsError(f"{bundle}: bundle not found")
    extra = {} if rollback else {"bundle": str(Path(bundle).resolve()), "release": release_name(Path(bundle))}
    if remote_command:
        extra["edgedigits_command"] = remote_command
    playbook = "rollback.yml" if rollback else "deploy.yml"
    if inventory is not None:
        return run_playbook(playbook, inventory, extra)
    with tempfile.NamedTemporaryFile("w", suffix=".ini") as generated:
        generated.write(inventory_text(targets))
        generated.flush()
        return run_playbook(playbook, Path(generated.name), extra)
